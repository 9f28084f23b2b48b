"""The local SQS server: moto's, with one race fixed. Run as `python -m workflows.sqs.moto_server
[moto.server options]` (LocalSqsServer does).

moto 5.2.5's `Queue.delete_message` rebuilds the queue's message list and assigns it back
without holding the queue's lock, while `add_message` appends under that lock. Under load a
SendMessage that lands during a DeleteMessage is lost, and of two concurrent DeleteMessages one
can be undone (the message comes back after its visibility timeout). Weft recovers from both
(the sweeper re-publishes a step nobody claimed; a claim ignores a step already done), but a
development server should not lose messages: here DeleteMessage takes the same lock.
"""


def lock_deletes() -> None:
    from moto.sqs.models import Queue

    original = Queue.delete_message
    if getattr(original, "weft_locked", False):
        return

    def delete_message(self, receipt_handle: str) -> None:
        with self._messages_lock:
            original(self, receipt_handle)

    delete_message.weft_locked = True
    Queue.delete_message = delete_message


if __name__ == "__main__":
    lock_deletes()
    from moto.server import main

    main()
