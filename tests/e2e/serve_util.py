"""Helpers shared by the `specula serve` e2e tests: a free port, waiting for /health, liveness and stopping."""
import socket
import subprocess
import time

import requests


def free_port():
    """A port nothing listens on right now (another process may still take it before the server binds)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc, url, timeout, poll=0.05, raise_on_timeout=True):
    """True once GET url/health answers 200; False when proc exits first. On timeout: TimeoutError, or False."""
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(poll)
    if raise_on_timeout:
        raise TimeoutError("server did not become ready")
    return False


def alive(proc, url):
    """The process runs and GET url/health answers 200."""
    return proc.poll() is None and requests.get(url + "/health", timeout=5).status_code == 200


def stop(proc):
    """SIGTERM, then SIGKILL after 10 s; returns the exit code (negative: the signal that ended it)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
