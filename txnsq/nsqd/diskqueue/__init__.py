# -*- test-case-name: tests.nsqd.diskqueue -*-
"""
A disk-backed FIFO whose files are byte-compatible with go-diskqueue v1.1.0,
the backend Go nsqd 1.3.0 gives every durable topic and channel.

On-disk layout (all files mode 0600, inside C{dataPath}):

  - C{<name>.diskqueue.%06d.dat}: segment files, each a run of records
    C{[int32 big-endian length][payload]};
  - C{<name>.diskqueue.meta.dat}: the text
    C{"<depth>\\n<readFileNum>,<readPos>\\n<writeFileNum>,<writePos>\\n"},
    always replaced atomically (temporary file, fsync, rename);
  - C{<segment>.bad}: a segment that could not be read, set aside.

Unlike Go, which runs one goroutine per queue, L{DiskQueue} is driven from
one thread (the reactor): L{DiskQueue.put} and L{DiskQueue.get} are small
synchronous calls on buffered files.  The only slow operation, fsync, is
split off: L{DiskQueue.prepareSync} does the bookkeeping on the caller's
thread and returns a job that may run in a worker thread while the queue
keeps being used.

Where this package knowingly differs from Go:

  - Reading never hits end-of-file at the boundary of a finished segment.
    go-diskqueue v1.1.0 renames such a segment to C{.bad} when the reader
    had caught up with the writer just before the writer rolled
    (nsqio/go-diskqueue#42); here the segment is simply finished and
    deleted.
  - A metadata file that cannot be parsed is logged and the queue starts
    empty I{after} any segments already on disk, which are left untouched
    for an operator to inspect; Go would reuse segment 0 and overwrite it.
  - C{close} fsyncs the write segment before persisting metadata (Go closes
    it unsynced).
  - The tail consistency check (depth must be 0 when nothing is left to
    read) also runs at startup, not only after the next read.
  - After an unclean shutdown, records written beyond the metadata's write
    position are counted into the depth at startup: Go reads them whatever
    the depth says, but nsqd's channels read only while the depth is
    positive.

The parts, each in its own module and importing only the standard library:

  - C{_files}: file names, record framing, small file helpers;
  - C{_metadata}: the metadata file, and where a queue resumes from it;
  - C{_writer}: C{SegmentWriter}, the write end;
  - C{_reader}: C{SegmentReader}, the read end, which follows the writer;
  - C{_queue}: L{DiskQueue}, which composes them and owns the depth and the
    sync policy.
"""

from txnsq.nsqd.diskqueue._queue import DiskQueue, DiskQueueClosed

__all__ = ["DiskQueue", "DiskQueueClosed"]
