import nsq


def handler(message):
    print(message.body.decode(), flush=True)
    return True  # True finishes the message, False requeues it


nsq.Reader(
    topic="orders",
    channel="billing",
    message_handler=handler,
    lookupd_http_addresses=["http://127.0.0.1:4161"],
    max_in_flight=10,
)
nsq.run()
