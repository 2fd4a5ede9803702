"""Review stage: what a person opens to correct the predictions of an episode."""

from collections import Counter

import dagster as dg
import pyarrow.parquet as pq

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, load_audio
from animespeech_assets.core.storage import atomic_dir, write_text
from animespeech_assets.review_app import page_url
from animespeech_assets.speakers.review import review_rows, sheet_text, text_confidence, write_clips

from .automation_conditions import REFRESH
from .ingest import episode_audio, transcript
from .materialize import Materialization, table_preview
from .partitions import episodes
from .resources import DataResource
from .speakers import character_predictions


@dg.asset(
    automation_condition=REFRESH,
    partitions_def=episodes,
    deps=[character_predictions, episode_audio, transcript],  # clips are cut from the decoded audio; the recogniser's confidence
    group_name="review",
    code_version="2",
    kinds={"csv", "wav"},
    description="What a person opens to correct predictions: data/review/<episode>.csv (doubtful recognised text, then least certain first, "
    "the columns annotation files accept) and a WAV per line in data/review/<episode>/; or label in the browser "
    "with `animespeech review` (the review_page link).",
)
def review_sheet(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    rows = review_rows(m.partition, pq.read_table(m.read("character_predictions")), text_confidence(pq.read_table(m.read("transcript"))))
    audio = load_audio(m.read("episode_audio"))
    with atomic_dir(m.folder()) as tmp:
        write_clips(rows, audio, ANALYSIS_SAMPLE_RATE, tmp)
    write_text(sheet_text(rows), m.output())
    return m.done(
        row_count=len(rows), extra_outputs=[m.folder()],
        metadata={"by_status": dg.MetadataValue.json(dict(Counter(r["status"] for r in rows))),
                  "first_rows": table_preview(rows[:8], ["line_id", "text", "predicted_character", "status", "distance"]),
                  "review_page": dg.MetadataValue.url(page_url(m.partition))},
    )
