"""Per-queue flow control: pause / resume one queue (optionally until a time) and a jobs-per-second or
per-minute rate limit shared by every worker of the queue.

    model.py   the read model and the stored JSON values (pure: parsing, validation)
    state.py   Redis reads (the book of every queue, one queue's view) and writes (one MULTI + a notice)
    take.lua   the atomic decision for a popped job: run it (taking a token) or put it back at the head
    gate.py    a worker's cached book and the take
    worker.py  FlowMixin, in ConsoleWorker's and ConsoleSimpleWorker's bases

Only workers running the console's extension honour pauses and limits; stock RQ workers do not.
"""
