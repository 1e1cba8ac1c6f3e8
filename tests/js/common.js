'use strict'
/*
 * Shared by publish.js and consume.js: argument parsing, JSON-line output
 * and a time limit, so txnsq's trial tests can drive nsqjs the same way
 * they drive pynsq (tests/integration/pynsq_scripts/pynsq_client.py).
 */

const fs = require('node:fs')
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
 * Parse argv with node's parseArgs; --nsqd HOST:PORT, --topic,
 * --timeout SECONDS and the connection options (see connectionOptions)
 * are common to every script.
 */
function parse(options) {
  const {values} = parseArgs({
    options: {
      nsqd: {type: 'string'},
      topic: {type: 'string'},
      timeout: {type: 'string', default: '30'},
      tls: {type: 'boolean', default: false},
      'tls-ca': {type: 'string'},
      'tls-cert': {type: 'string'},
      'tls-key': {type: 'string'},
      snappy: {type: 'boolean', default: false},
      deflate: {type: 'boolean', default: false},
      'deflate-level': {type: 'string'},
      'auth-secret': {type: 'string'},
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

/**
 * nsqjs connection options from the command line: --tls (IDENTIFY
 * tls_v1; nsqd's certificate is verified only with --tls-ca FILE),
 * --tls-cert FILE --tls-key FILE (a client certificate), --snappy,
 * --deflate, --deflate-level N, --auth-secret S.
 */
function connectionOptions(values) {
  const options = {}
  if (values.tls) {
    options.tls = true
    options.tlsVerification = Boolean(values['tls-ca'])
    if (values['tls-ca']) options.ca = fs.readFileSync(values['tls-ca'])
    if (values['tls-cert']) {
      options.cert = fs.readFileSync(values['tls-cert'])
      options.key = fs.readFileSync(values['tls-key'])
    }
  }
  if (values.snappy) options.snappy = true
  if (values.deflate) options.deflate = true
  if (values['deflate-level'] !== undefined) {
    options.deflateLevel = Number(values['deflate-level'])
  }
  if (values['auth-secret'] !== undefined) {
    options.authSecret = values['auth-secret']
  }
  return options
}

/**
 * Print what nsqd agreed to in IDENTIFY, and its AUTH reply, for the
 * nsqjs connection conn of reader (or writer) name.
 */
function emitNegotiated(conn, name) {
  const identify = (conn.statemachine && conn.statemachine.identifyResponse) || {}
  const features = {}
  for (const key of ['tls_v1', 'snappy', 'deflate', 'deflate_level', 'auth_required']) {
    features[key] = identify[key] === undefined ? null : identify[key]
  }
  emit('identified', {reader: name, ...features})
  if (conn.auth) emit('authed', {reader: name, reply: conn.auth})
}

/** Keep the process alive while it waits on sockets and timers. */
function keepAlive(seconds) {
  return setTimeout(() => {}, seconds * 1000)
}

module.exports = {emit, exit, parse, keepAlive, connectionOptions, emitNegotiated}
