const nsq = require('nsqjs')

const reader = new nsq.Reader('orders', 'billing', {
  lookupdHTTPAddresses: '127.0.0.1:4161',
  maxInFlight: 10,
})
reader.on('message', (msg) => {
  console.log(msg.body.toString())
  msg.finish()
})
reader.connect()
