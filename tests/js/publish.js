'use strict'
/*
 * nsqjs Writer: node publish.js --nsqd HOST:PORT --topic T --ops JSON
 *
 * Runs each operation of the JSON list in order, waiting for nsqd's
 * reply: ["pub", body], ["mpub", [body, ...]] (nsqjs sends MPUB for a list
 * of more than one), ["dpub", delayMs, body].  Prints one "published" line
 * per reply; exits 0 if every reply was OK.  Takes common.js's
 * connection options (TLS, compression, AUTH) and prints "identified"
 * (and "authed") once ready; exits 1 if refused before that.
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

const args = parse({ops: {type: 'string'}})
const ops = JSON.parse(args.ops || '[]')
const alive = keepAlive(Number(args.timeout))
const writer = new nsq.Writer(args.host, args.port, connectionOptions(args))
let ready = false

function run(index, failed) {
  if (index === ops.length) {
    clearTimeout(alive)
    writer.close()
    exit(failed ? 1 : 0)
    return
  }
  const [command, ...rest] = ops[index]
  const done = (err) => {
    emit('published', {
      command: command.toUpperCase(),
      reply: err ? String(err.message || err) : 'OK',
    })
    run(index + 1, failed || Boolean(err))
  }
  if (command === 'pub') {
    writer.publish(args.topic, rest[0], done)
  } else if (command === 'mpub') {
    writer.publish(args.topic, rest[0], done)
  } else if (command === 'dpub') {
    // nsqjs 0.13.0's deferPublish passes its message straight to a
    // function that wants a list, despite its docs: give it one.
    writer.deferPublish(args.topic, [rest[1]], rest[0], done)
  } else {
    throw new Error(`unknown operation ${command}`)
  }
}

writer.on('ready', () => {
  ready = true
  emitNegotiated(writer.conn, 'writer')
  run(0, false)
})
writer.on('error', (err) => emit('error', {error: String(err.message || err)}))
writer.on('closed', () => {
  // Refused before it could publish (TLS, AUTH): no retrying.
  if (!ready) exit(1)
})
writer.connect()
