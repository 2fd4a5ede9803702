"""Resources: where the data lives (and, in later stages, the models with their devices)."""


from pathlib import Path

import dagster as dg
from pydantic import Field

from animespeech_assets.layout import DataLayout, default_data_dir
from animespeech_assets.lineage import Ledger


class DataResource(dg.ConfigurableResource):
    """The data root. Empty means ``$ANIMESPEECH_DATA_DIR`` or ``./data``."""

    data_dir: str = Field(default="", description="data root; empty: $ANIMESPEECH_DATA_DIR or ./data")

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir).resolve() if self.data_dir else default_data_dir())

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.layout.lineage)
