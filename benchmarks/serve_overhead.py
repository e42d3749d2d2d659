"""What a viewer of ``edgetl run --serve`` costs the loop: its FPS with one viewer attached against none.

Usage: python benchmarks/serve_overhead.py --model RUN/model.int8.onnx --video drive.mp4 [--threads N]
       [--seconds 10] [--rounds 5] [--serve-fps 15] [--serve-width 640] [--out benchmarks/results]

Target (issue "edgetl run --serve"): the loop's FPS with one viewer attached stays within 5% of its FPS
without. The loop runs as ``edgetl run --headless --no-drop --serve 0`` does (every frame of the video as
fast as possible, so FPS is what the loop can do) in three variants: no server at all, the server with
no viewer, and the server with one viewer. The viewer is a separate process, as a browser would be: it
reads /stream.mjpg and /events and polls /stats.json once a second, like the page. The variants run in
interleaved rounds in rotating order, so that load from other processes hits each alike; the verdict is
the median over rounds of FPS(one viewer) / FPS(server, no viewer). Writes serve_overhead.json and .md.

Inputs used for the reported numbers (as for camera_loop.py):
  edgetl data roadsigns data --per-class 20 && edgetl data roadsigns-video drive.mp4 --seconds 10
  edgetl finetune data -o run --freeze all --cache-features --epochs 3 && edgetl export run --int8
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2

from edgetl.bench.environment import collect
from edgetl.bench.report import environment_lines
from edgetl.camera.loop import LoopConfig, run_loop
from edgetl.camera.serve import LiveServer, ServeConfig
from edgetl.camera.sources import Capture, parse_source
from edgetl.fileio import write_json, write_text
from edgetl.runtime import open_runner

FPS_RATIO_MIN = 0.95
VARIANTS = ("no server", "server, no viewer", "server, one viewer")

# The viewer: reads the stream and the events and polls the stats like the page; prints the frames it got.
VIEWER = r"""
import http.client, sys, threading, time
port = int(sys.argv[1])
def conn(path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    return c.getresponse()
def drain(path):
    r = conn(path)
    while r.read1(1 << 16):
        pass
def poll():
    while True:
        conn("/stats.json").read()
        time.sleep(1)
for target in (lambda: drain("/events"), poll):
    threading.Thread(target=target, daemon=True).start()
stream, frames = conn("/stream.mjpg"), 0
print("watching", flush=True)
while line := stream.fp.readline():
    frames += line.startswith(b"--edgetlframe\r")
print(frames, flush=True)
"""


def loop_fps(runner, video: Path, frames: int, live=None) -> dict[str, Any]:
    """The loop over ``frames`` frames of the video (played as often as needed), every frame processed."""
    passes = -(-frames // max(1, int(cv_frame_count(video))))
    capture = Capture(parse_source(str(video)), drop=False, passes=passes)
    result = run_loop(runner, capture, LoopConfig(max_frames=frames), live=live)
    return {"fps": result.fps, "frames": result.frames, "wall_s": result.wall_s,
            "output_ms": result.stages["output"], "infer_ms": result.stages["infer"]}


def cv_frame_count(video: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return n


def with_server(runner, video: Path, frames: int, args: argparse.Namespace, viewer: bool) -> dict[str, Any]:
    """The loop beside a live server; with ``viewer``, a viewer process watches from before the first frame."""
    server = LiveServer(ServeConfig(port=0, fps=args.serve_fps, width=args.serve_width))
    server.start({"model": "benchmark", "source": video.name})
    proc = None
    try:
        if viewer:
            proc = subprocess.Popen([sys.executable, "-c", VIEWER, str(server.port)], stdout=subprocess.PIPE, text=True)
            assert proc.stdout.readline().strip() == "watching"
            while server.broadcast.stats()["viewers"]["stream"] < 1:
                time.sleep(0.01)
        out = loop_fps(runner, video, frames, live=server.broadcast)
        out["encoded_frames"] = server.broadcast.stats()["stream"]["encoded_frames"]
    finally:
        server.close("benchmark round done")
    if proc is not None:
        out["viewer_received"] = int(proc.communicate(timeout=30)[0].strip() or 0)
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with open_runner(args.model, threads=args.threads) as runner:
        probe = loop_fps(runner, args.video, 50)  # how many frames make --seconds
        frames = max(50, int(probe["fps"] * args.seconds))
        rounds = []
        for i in range(args.rounds):
            order = VARIANTS[i % 3:] + VARIANTS[:i % 3]
            runs = {}
            for v in order:
                runs[v] = (loop_fps(runner, args.video, frames) if v == "no server" else
                           with_server(runner, args.video, frames, args, viewer=v.endswith("one viewer")))
            ratio = runs["server, one viewer"]["fps"] / runs["server, no viewer"]["fps"]
            rounds.append({"order": list(order), "runs": runs, "ratio_viewer": round(ratio, 4),
                           "ratio_server": round(runs["server, no viewer"]["fps"] / runs["no server"]["fps"], 4)})
            print(f"round {i + 1}: " + ", ".join(f"{v} {runs[v]['fps']:.1f} FPS" for v in VARIANTS)
                  + f"; one viewer / no viewer {ratio:.3f}")
        model = {"path": args.model.name, "backend": runner.backend, "precision": runner.precision,
                 "input": runner.info.preprocess.size}
    median = statistics.median(r["ratio_viewer"] for r in rounds)
    return {"model": model, "video": {"path": args.video.name, "frames": cv_frame_count(args.video)},
            "frames_per_run": frames, "serve": {"fps": args.serve_fps, "width": args.serve_width}, "rounds": rounds,
            "target": {"median_ratio": round(median, 4), "min": FPS_RATIO_MIN, "pass": median >= FPS_RATIO_MIN,
                       "median_ratio_server_alone": round(statistics.median(r["ratio_server"] for r in rounds), 4)}}


def to_markdown(r: dict[str, Any]) -> str:
    m, t = r["model"], r["target"]
    lines = ["# `--serve`: the loop's FPS with one viewer against none", "",
             f"Model {m['path']} ({m['backend']}, {m['precision']}, {m['input']}x{m['input']} input); video "
             f"{r['video']['path']}; every frame as fast as possible, {r['frames_per_run']} frames per run; viewers get at "
             f"most {r['serve']['fps']:g} frames/s at {r['serve']['width']} px wide; threads "
             f"{r['threads'] or 'backend default'}. The viewer is a separate process reading the stream and the "
             "events and polling the stats once a second.", "",
             "| target | measured | required | pass |", "|---|---|---|---|",
             f"| FPS with one viewer / FPS without (median over {len(r['rounds'])} rounds) | "
             f"{100 * t['median_ratio']:.1f}% | >= {100 * t['min']:.0f}% | {t['pass']} |", "",
             f"The server alone, with no viewer: {100 * t['median_ratio_server_alone']:.1f}% of the FPS without it.", "",
             "| round | order | " + " | ".join(f"{v} (FPS)" for v in VARIANTS) + " | frames encoded / received by the viewer |",
             "|---|---|" + "---|" * len(VARIANTS) + "---|"]
    for i, rd in enumerate(r["rounds"], 1):
        runs, viewer = rd["runs"], rd["runs"]["server, one viewer"]
        lines.append(f"| {i} | {', '.join(v.split(',')[-1].strip() for v in rd['order'])} | "
                     + " | ".join(f"{runs[v]['fps']:.1f}" for v in VARIANTS)
                     + f" | {viewer['encoded_frames']} / {viewer.get('viewer_received', 0)} |")
    lines += ["", "## Environment", "", *environment_lines(r["environment"]),
              f"- Load average at start: {r['load_average']} (other work shares this CPU)", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--video", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=None, help="inference threads (default: the backend's)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the three variants")
    ap.add_argument("--serve-fps", type=float, default=15.0)
    ap.add_argument("--serve-width", type=int, default=640)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    result = {"threads": args.threads, "load_average": load, **measure(args), "environment": collect(args.threads)}
    write_json(args.out / "serve_overhead.json", result)
    write_text(args.out / "serve_overhead.md", to_markdown(result))
    t = result["target"]
    print(f"one viewer / no viewer: {100 * t['median_ratio']:.1f}% (>= 95%: {t['pass']})")
    print(f"wrote {args.out / 'serve_overhead.json'} and serve_overhead.md")


if __name__ == "__main__":
    main()
