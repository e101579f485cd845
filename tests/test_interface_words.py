"""Errors speak the words of the interface that was called (#21 item 8): CLI flags
from the command line, keyword arguments from the Python API; a pixel CSV's
swapped coordinates are quoted in its own columns and pixels."""

from __future__ import annotations

import json

import pytest
from helpers.cli import run_cli

from tfod_anchors.errors import InputError, option, speaking
from tfod_anchors.sources import read_boxes

SWAPPED = ("filename,width,height,class,x1,y1,x2,y2\n"
           "a.jpg,640,480,cat,10,20,300,200\n"
           "b.jpg,640,480,cat,50,40,20,100\n")


def test_option_words_follow_the_interface():
    assert option("skip_bad") == "skip_bad=True"
    with speaking("cli"):
        assert option("skip_bad") == "--skip-bad"
        with speaking("api"):
            assert option("label_map") == "label_map_path="
    assert option("verify_sizes") == "verify_sizes=True"


def test_swapped_csv_box_in_its_own_columns_and_api_words(tmp_path):
    data = tmp_path / "boxes.csv"
    data.write_text(SWAPPED)
    with pytest.raises(InputError) as err:
        read_boxes([str(data)], progress=False)
    assert str(err.value) == (
        "1 box(es) have ymax < ymin or xmax < xmin, which makes TFOD training fail; first: "
        f"{data} (line 3) box 0: x1 = 50, y1 = 40, x2 = 20, y2 = 100 (pixels) (skip and "
        "count them with skip_bad=True)")


def test_swapped_csv_box_in_cli_words(tmp_path, capsys):
    data = tmp_path / "boxes.csv"
    data.write_text(SWAPPED)
    code, out, err = run_cli(capsys, "stats", "--input", data, "--json")
    assert code == 2
    message = json.loads(out)["error"]["message"]
    assert message.endswith("x1 = 50, y1 = 40, x2 = 20, y2 = 100 (pixels) (skip and count "
                            "them with --skip-bad)")
    assert "skip_bad" not in err
