"""
txnsq deployed as NSQ is: daemons and clients on separate "hosts" (Linux
network namespaces on one bridge), with their real addresses, under
crashes, restarts, partitions, delay and loss.
"""
