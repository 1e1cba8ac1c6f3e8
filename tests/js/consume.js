'use strict'
/*
 * nsqjs Readers: node consume.js --nsqd HOST:PORT --topic T --channel C
 *     [--channel C2 ...] --count N [options]
 *
 * Starts --readers Readers per channel and prints JSON lines:
 * "subscribed" once nsqd acknowledged a Reader's SUB, "message" per
 * delivery, "heartbeat" per heartbeat answered with NOP, "closed" if a
 * connection drops.  Exits 0 once N messages were finished (and every
 * Reader saw --min-heartbeats heartbeats), 2 on its own time limit.
 *
 * Options: --max-in-flight K, --msg-timeout-ms MS (IDENTIFY msg_timeout),
 * --heartbeat-interval SECONDS, --requeue-first-ms MS (REQ first attempts
 * with that delay), --ignore-first (never answer first attempts),
 * --hold (each Reader holds its message until every Reader holds one);
 * and common.js's connection options (TLS, compression, AUTH), after
 * which each connection prints "identified" (and "authed") once
 * subscribed.
 */

const nsq = require('nsqjs')
const {
  emit,
  exit,
  parse,
  keepAlive,
  connectionOptions,
  emitNegotiated,
} = require('./common')

const args = parse({
  channel: {type: 'string', multiple: true},
  count: {type: 'string'},
  readers: {type: 'string', default: '1'},
  'max-in-flight': {type: 'string', default: '10'},
  'msg-timeout-ms': {type: 'string'},
  'heartbeat-interval': {type: 'string'},
  'min-heartbeats': {type: 'string', default: '0'},
  'requeue-first-ms': {type: 'string'},
  'ignore-first': {type: 'boolean', default: false},
  hold: {type: 'boolean', default: false},
})
const count = Number(args.count)
const minHeartbeats = Number(args['min-heartbeats'])
const alive = keepAlive(Number(args.timeout))

let done = false
let finished = 0
const heartbeats = new Map()
const held = new Map()
const readers = new Map()

// nsqjs has no heartbeat event: a connection answers each heartbeat with
// NOP, so count those writes.
const NOP = 'NOP\n'
const write = nsq.NSQDConnection.prototype.write
nsq.NSQDConnection.prototype.write = function (data) {
  if (this.readerName && String(data) === NOP) {
    const seen = (heartbeats.get(this.readerName) || 0) + 1
    heartbeats.set(this.readerName, seen)
    emit('heartbeat', {reader: this.readerName, count: seen})
    setImmediate(checkDone)
  }
  return write.call(this, data)
}

function checkDone() {
  if (done || finished < count) return
  for (const name of readers.keys()) {
    if ((heartbeats.get(name) || 0) < minHeartbeats) return
  }
  done = true
  clearTimeout(alive)
  for (const reader of readers.values()) reader.close()
  exit(0)
}

function finish(message) {
  message.finish()
  finished += 1
  checkDone()
}

function handle(name, channel, message) {
  emit('message', {
    reader: name,
    channel,
    id: message.id,
    body: message.body.toString('utf8'),
    attempts: message.attempts,
    timestamp: message.timestamp.toString(),
    received: Date.now() / 1000,
  })
  if (message.attempts === 1 && args['ignore-first']) {
    // Never answered: nsqd must time it out and deliver it again.
    return
  }
  if (message.attempts === 1 && args['requeue-first-ms'] !== undefined) {
    message.requeue(Number(args['requeue-first-ms']), false)
    return
  }
  if (args.hold) {
    held.set(name, message)
    if (held.size === readers.size) {
      // Every Reader has one in flight: release them all.
      const all = [...held.values()]
      held.clear()
      all.forEach(finish)
    }
    return
  }
  finish(message)
}

class ObservedReader extends nsq.Reader {
  constructor(name, ...rest) {
    super(...rest)
    this.readerName = name
  }

  registerConnectionListeners(conn) {
    conn.readerName = this.readerName
    conn.on(nsq.NSQDConnection.READY, () => emitNegotiated(conn, this.readerName))
    return super.registerConnectionListeners(conn)
  }
}

for (const channel of args.channel || []) {
  for (let index = 0; index < Number(args.readers); index++) {
    const name = `${channel}/${index}`
    const options = {
      ...connectionOptions(args),
      nsqdTCPAddresses: [args.nsqd],
      maxInFlight: Number(args['max-in-flight']),
      maxAttempts: 0,
    }
    if (args['msg-timeout-ms'] !== undefined) {
      options.messageTimeout = Number(args['msg-timeout-ms'])
    }
    if (args['heartbeat-interval'] !== undefined) {
      options.heartbeatInterval = Number(args['heartbeat-interval'])
    }
    const reader = new ObservedReader(name, args.topic, channel, options)
    readers.set(name, reader)
    reader.on('ready', () => emit('subscribed', {reader: name, channel}))
    reader.on('message', (message) => handle(name, channel, message))
    reader.on('nsqd_closed', () => {
      if (!done) emit('closed', {reader: name})
    })
    reader.on('error', (err) => {
      if (!done) emit('error', {reader: name, error: String(err.message || err)})
    })
  }
}
for (const reader of readers.values()) reader.connect()
