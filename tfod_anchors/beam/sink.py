"""The Parquet sink of the Beam extraction: Beam's file-based sink (temporary files,
then renamed to ``PREFIX-SSSSS-of-NNNNN.parquet`` when the job finishes) writing
``pyarrow`` tables with page CRCs, as the local extraction does (Beam's own
``WriteToParquetBatched`` cannot turn them on)."""

from __future__ import annotations

from typing import Any

from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes


class ParquetTableSink(filebasedsink.FileBasedSink):
    """``pyarrow.Table`` elements -> Parquet shards (zstd, page CRCs written)."""

    def __init__(self, file_path_prefix: str, schema: Any, num_shards: int = 0):
        super().__init__(file_path_prefix, coder=None, file_name_suffix=".parquet",
                         num_shards=num_shards, shard_name_template="-SSSSS-of-NNNNN",
                         mime_type="application/x-parquet",
                         compression_type=CompressionTypes.UNCOMPRESSED)
        self._schema = schema
        self._handle: Any = None

    def open(self, temp_path: str) -> Any:
        import pyarrow.parquet as pq

        self._handle = super().open(temp_path)
        return pq.ParquetWriter(self._handle, self._schema, compression="zstd",
                                write_page_checksum=True)

    def write_record(self, writer: Any, table: Any) -> None:
        writer.write_table(table)

    def close(self, writer: Any) -> None:
        writer.close()
        if self._handle is not None:
            self._handle.close()
            self._handle = None
