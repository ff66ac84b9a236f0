"""A stream position, for context.platform.explicit_ack()."""


class QualifiedOffset:
    def __init__(self, topic, partition, offset):
        self.topic = topic
        self.partition = partition
        self.offset = offset

    @staticmethod
    def from_event(event):
        # Nuclio falls back to the path for events whose trigger sets no
        # topic (older stream triggers put the topic there).
        return QualifiedOffset(event.topic or event.path, event.shard_id, event.offset)

    def compile_explicit_ack_message(self):
        """The control message Nuclio's wrapper sends to acknowledge this offset."""
        return {"kind": "streamMessageAck",
                "attributes": {"topic": self.topic, "partition": self.partition, "offset": self.offset}}

    def __repr__(self):
        return f"QualifiedOffset(topic={self.topic!r}, partition={self.partition!r}, offset={self.offset!r})"
