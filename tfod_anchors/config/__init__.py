"""Reading, querying and rewriting ``pipeline.config`` through the object_detection schema.

* :mod:`.schema` loads the protobuf classes (bundled descriptor set or an installed TFOD);
* :mod:`.files` reads configs strictly and writes them atomically;
* :mod:`.query` answers the questions the other stages ask of a config;
* :mod:`.textproto` and :mod:`.patch` rewrite only the anchor block of the text.
"""
