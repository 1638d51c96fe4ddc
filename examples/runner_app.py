"""A fal-like sample runner, standard library only.

setup() "loads a model" and prints as it goes; then requests are served
concurrently by a thread pool. Each request prints through print() and
logging; one request fails and its traceback is logged. Run it under
logtap (``logtap run -- python3 examples/runner_app.py``) and look at the
runner's logs and each request's logs. ``logtap run`` makes ``import
logtap`` work; run without it, put bindings/python on PYTHONPATH.

Options: --requests N (default 6), --workers N (default 3),
--ids-file PATH (write the request IDs there, one a line), --caller NAME
(the user each request is served for: who may read its logs).
"""

import argparse
import concurrent.futures
import logging
import os
import sys
import time

import logtap


def get_logger():
    stdout_handler = logging.StreamHandler(sys.stdout)
    stdout_handler.setLevel(logging.INFO)
    stdout_handler.addFilter(lambda record: record.levelno < logging.ERROR)
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.ERROR)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[stdout_handler, stderr_handler],
    )
    return logging.getLogger("sample_app")


class SampleApp:
    def setup(self):
        self.logger = get_logger()
        print("Loading model weights...")
        for shard in range(1, 4):
            time.sleep(0.02)
            print(f"  loaded shard {shard}/3")
        self.logger.info("Model loaded, VRAM: 11.2GB")

    def run(self, request_id, prompt, caller=None):
        with logtap.request(request_id, caller=caller):
            print(f"Generating for prompt: {prompt}")
            self.logger.info("request %s: denoising 4 steps", request_id)
            for step in range(1, 5):
                time.sleep(0.01)
                print(f"step {step}/4")
            if prompt == "explode":
                try:
                    raise RuntimeError("CUDA out of memory (simulated)")
                except RuntimeError:
                    self.logger.exception("Request failed")
                    return {"error": "failed"}
            print("Warning: cache miss", file=sys.stderr)
            self.logger.info("Generation complete, inference time: 0.04s")
            return {"image": f"{request_id}.png"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--ids-file")
    parser.add_argument("--caller")
    args = parser.parse_args()

    app = SampleApp()
    app.setup()
    prompts = ["a red fox", "a lighthouse at dusk", "explode", "a bowl of ramen",
               "mountains in fog", "a paper boat"]
    run_id = os.environ.get("LOGTAP_RUNNER_ID", "local")
    requests = [(f"req-{run_id}-{i}", prompts[i % len(prompts)]) for i in range(args.requests)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(lambda r: app.run(*r, caller=args.caller), requests))
    print(f"served {len(results)} requests")
    if args.ids_file:
        with open(args.ids_file, "w") as f:
            f.write("".join(rid + "\n" for rid, _ in requests))


if __name__ == "__main__":
    main()
