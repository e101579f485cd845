"""TFRecord reading: framing, ``tf.Example`` parsing, the two readers and their choice.

* :mod:`.files` - listing and sniffing files (compression, "is this a TFRecord");
* :mod:`.framing` - record framing with every CRC checked (no TensorFlow);
* :mod:`.example_proto`, :mod:`.example_skim` - ``tf.Example`` parsing without
  TensorFlow (protobuf, and the vectorized wire-format skimmer);
* :mod:`.tfexample` - the in-graph parser and the batch processing both readers share;
* :mod:`.tfdata` - the ``tf.data`` reader; :mod:`.native` - the native one;
  :mod:`.choice` - which of them reads a set of files; :mod:`.prescan` - the header
  walk that keeps ``tf.data`` from crashing on an overlong record;
* :mod:`.rows` - record rows (what the box cache stores).
"""

from .tfdata import RecordReader, read_files_with, read_tfrecords, readable_files

__all__ = ["RecordReader", "read_files_with", "read_tfrecords", "readable_files"]
