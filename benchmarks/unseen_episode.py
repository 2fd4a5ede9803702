"""An episode the project was never tuned on, of the demo's kind: five characters (one the demo never
uses), three scenes, a synthetic music bed 10 dB under the speech of two of them. For the speech
recognition benchmark (its subtitles are withheld there). Made once into ``data/cache/bench/unseen``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SCENES = [
    [  # 部室
        ("Aoi", "遅くなってごめん。先生に呼ばれてた。"),
        ("Haruto", "大丈夫だよ。まだ誰も始めてないから。"),
        ("Yuki", "今日は文化祭の出し物を決めるんだよね。"),
        ("Mei", "私、お化け屋敷がいいな。絶対楽しいよ。"),
        ("Sakura", "えー、怖いのは苦手なんだけど。"),
        ("Aoi", "じゃあ、喫茶店はどう？衣装も作れるし。"),
        ("Haruto", "喫茶店か。料理は誰が作るの？"),
        ("Yuki", "私、クッキーなら焼けるよ。"),
        ("Mei", "それなら、メニューはお菓子中心にしよう。"),
        ("Sakura", "いいね。看板は私が描く。"),
        ("Aoi", "決まりだね。明日、先生に話してみる。"),
        ("Haruto", "よし、がんばろう。"),
        ("Yuki", "楽しみになってきた。"),
    ],
    [  # 商店街で買い出し（音楽）
        ("Mei", "小麦粉と砂糖、これで足りるかな。"),
        ("Aoi", "バターも忘れないでね。"),
        ("Haruto", "重いから、僕が持つよ。"),
        ("Sakura", "ありがとう。ハルトは優しいね。"),
        ("Yuki", "あ、あそこのお店、紅茶が安いよ。"),
        ("Mei", "本当だ。三つ買っておこう。"),
        ("Aoi", "予算はまだ大丈夫？"),
        ("Haruto", "うん、半分くらい残ってる。"),
        ("Sakura", "じゃあ、かわいいお皿も見に行こう。"),
        ("Yuki", "紙のお皿でいいんじゃない？"),
        ("Mei", "せっかくだから、ちゃんとしたのがいいな。"),
        ("Aoi", "一枚だけ、試しに買ってみようか。"),
        ("Haruto", "そろそろ帰らないと、暗くなるよ。"),
    ],
    [  # 文化祭当日（音楽）
        ("Sakura", "いらっしゃいませ。こちらの席へどうぞ。"),
        ("Yuki", "クッキー、焼きたてです。"),
        ("Aoi", "お客さん、思ったよりたくさん来たね。"),
        ("Haruto", "紅茶が足りなくなりそうだ。"),
        ("Mei", "私、急いで買ってくる。"),
        ("Sakura", "気をつけてね。"),
        ("Yuki", "看板、すごく評判いいよ。"),
        ("Aoi", "サクラの絵のおかげだね。"),
        ("Haruto", "みんな、本当にお疲れさま。"),
        ("Mei", "ただいま。紅茶、買ってきたよ。"),
        ("Sakura", "ありがとう。まだまだ忙しくなりそう。"),
        ("Yuki", "最後まで、がんばろうね。"),
        ("Aoi", "来年も、このメンバーでやりたいな。"),
        ("Haruto", "うん、絶対にやろう。"),
    ],
]
MUSIC_SCENES = (1, 2)
MUSIC_SNR_DB = 10.0


def unseen_episode(cache: Path) -> tuple[Path, list[dict]]:
    """(``unseen.mkv``, its ground-truth rows): made once, then read from ``cache``."""
    from animespeech_assets.core.layout import DataLayout
    from animespeech_assets.core.storage import write_text
    from animespeech_assets.demo.generate import SAMPLE_RATE, mux, read_truth, render, truth_csv
    from animespeech_assets.demo.music import with_music

    layout = DataLayout(cache / "unseen")
    media, truth = layout.inputs / "unseen.mkv", layout.demo / "unseen.truth.csv"
    if not media.exists():
        print("synthesising the unseen episode (Kokoro voices, 40 lines) ...", flush=True)
        audio, lines, scene_starts = render(SCENES, seed=7, what="synthesising unseen")
        bounds = [*scene_starts, len(audio) / SAMPLE_RATE]
        for k in MUSIC_SCENES:
            a, b = (int(t * SAMPLE_RATE) for t in bounds[k : k + 2])
            spans = [(ln.speech_start - bounds[k], ln.speech_end - bounds[k]) for ln in lines if ln.scene == k]
            audio[a:b] = np.stack([with_music(audio[a:b, c], SAMPLE_RATE, MUSIC_SNR_DB, spans, seed=k) for c in range(audio.shape[1])], axis=1)
        layout.inputs.mkdir(parents=True, exist_ok=True)
        mux(media, audio, scene_starts)
        write_text(truth_csv(lines), truth)
    return media, read_truth(truth)
