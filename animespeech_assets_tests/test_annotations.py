import pyarrow as pa
import pytest

from animespeech_assets.speakers.annotations import AnnotationError, labels_for, match, read_annotations

TRANSCRIPT = pa.table(
    {
        "line_id": pa.array([1, 2, 3, 4], pa.int32()),
        "start": [1.0, 3.0, 5.0, 8.0],
        "end": [2.5, 4.5, 7.5, 9.0],
    }
)


def write(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "ep01.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_times_match_by_overlap_and_line_ids_directly(tmp_path):
    # re-timed labels (e.g. made on another transcript) still land on the right lines
    path = write(tmp_path, "start,end,character,text\n0.9,2.4,Sakura,\n5.2,7.9,Haruto,直した文\n\n")
    assert [(lab.line_id, lab.character, lab.text) for lab in labels_for(path, TRANSCRIPT)] == [
        (1, "Sakura", None), (3, "Haruto", "直した文"),
    ]
    path = write(tmp_path, "line_id,character\n4,Mei\n2,Yuki\n")
    assert [(lab.line_id, lab.character) for lab in labels_for(path, TRANSCRIPT)] == [(2, "Yuki"), (4, "Mei")]


def test_blank_characters_are_skipped_and_excel_cp932_files_read(tmp_path):
    path = write(tmp_path, "line_id,start,end,character,text\r\n1,1.0,2.5,さくら,\r\n2,3.0,4.5,,\r\n", "cp932")
    assert [(lab.line_id, lab.character) for lab in labels_for(path, TRANSCRIPT)] == [(1, "さくら")]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("line_id,speaker\n1,A\n", "unknown column(s) ['speaker']"),
        ("line_id,text\n1,hi\n", "'character' column is required"),
        ("start,character\n1.0,A\n", "either a 'line_id' column or 'start' and 'end'"),
        ("start,end,character\n2.0,1.0,A\n", "row 2: end 1.0 is not after start 2.0"),
        ("line_id,character\nfirst,A\n", "row 2"),
    ],
)
def test_bad_annotation_files_name_the_file_and_row(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(AnnotationError) as err:
        labels_for(path, TRANSCRIPT)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_unmatched_rows_and_conflicts_are_errors(tmp_path):
    path = write(tmp_path, "start,end,character\n1.0,2.5,A\n20.0,21.0,B\nline_id\n")
    with pytest.raises(AnnotationError, match=r"1 row\(s\) match no transcript line: row 3 \(20.000-21.000 s, B\)"):
        labels_for(path, TRANSCRIPT)
    path = write(tmp_path, "line_id,character\n1,A\n1,B\n")
    with pytest.raises(AnnotationError, match="line 1 is labelled 'A' \\(row 2\\) and 'B' \\(row 3\\)"):
        labels_for(path, TRANSCRIPT)
    # the same character twice is not a conflict
    path = write(tmp_path, "line_id,character\n1,A\n1,A\n")
    assert len(labels_for(path, TRANSCRIPT)) == 1


def test_match_returns_unmatched_instead_of_raising(tmp_path):
    path = write(tmp_path, "line_id,character\n1,A\n99,B\n")
    labels, unmatched = match(read_annotations(path), TRANSCRIPT, path)
    assert [lab.line_id for lab in labels] == [1] and [a.line_id for a in unmatched] == [99]
