'use strict'
/*
 * Shared by publish.js and consume.js: argument parsing, JSON-line output
 * and a time limit, so txnsq's trial tests can drive nsqjs the same way
 * they drive pynsq (tests/integration/pynsq_scripts/pynsq_client.py).
 */

const {parseArgs} = require('node:util')

/** Print one event as a JSON line on stdout. */
function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({event, ...fields}) + '\n')
}

/** Exit once stdout has been written out. */
function exit(code) {
  emit('exit', {code})
  process.stdout.write('', () => process.exit(code))
}

/**
 * Parse argv with node's parseArgs; --nsqd HOST:PORT, --topic and
 * --timeout SECONDS are common to every script.
 */
function parse(options) {
  const {values} = parseArgs({
    options: {
      nsqd: {type: 'string'},
      topic: {type: 'string'},
      timeout: {type: 'string', default: '30'},
      ...options,
    },
  })
  for (const required of ['nsqd', 'topic']) {
    if (!values[required]) {
      process.stderr.write(`--${required} is required\n`)
      process.exit(64)
    }
  }
  const [host, port] = values.nsqd.split(':')
  values.host = host
  values.port = Number(port)
  // Our own time limit: a stuck client must not outlive the test.
  setTimeout(() => {
    emit('timeout', {seconds: Number(values.timeout)})
    exit(2)
  }, Number(values.timeout) * 1000).unref()
  return values
}

/** Keep the process alive while it waits on sockets and timers. */
function keepAlive(seconds) {
  return setTimeout(() => {}, seconds * 1000)
}

module.exports = {emit, exit, parse, keepAlive}
