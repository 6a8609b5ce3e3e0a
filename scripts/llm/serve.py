"""Serve a GGUF model over an OpenAI-compatible API on 127.0.0.1 with llama.cpp
(PyPI `xllamacpp`), one thread. Usage: python serve.py MODEL.gguf PORT"""
import sys
import time

import xllamacpp as xlc


def main():
    model, port = sys.argv[1], int(sys.argv[2])
    params = xlc.CommonParams()
    params.model.path = model
    params.hostnames = ["127.0.0.1"]
    params.n_parallel = 1
    params.port = port
    params.n_ctx = 8192
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    server = xlc.Server(params)  # noqa: F841 - serves until the process ends
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
