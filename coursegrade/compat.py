"""Every use coursegrade makes of another library's private or undocumented API, in one place.

tests/test_coursegrade_compat.py checks each of these against the pinned versions (and fails
when requirements.txt pins another version of one of these libraries, so that an upgrade is a
deliberate act: re-read the code below, then update PINNED).
"""
import contextlib
import os
import signal

PINNED = {"nbclient": "0.11.0", "nbconvert": "7.17.2", "nbgrader": "0.9.6", "jupyter_client": "8.10.0",
          "ipykernel": "7.4.0", "pyzmq": "27.3.0"}


def init_notebook_client(ep, nb, km, resources):
    """What nbconvert's ExecutePreprocessor.preprocess does before executing (nbconvert 7.17:
    NotebookClient.__init__ + reset_execution_trackers + the private _check_assign_resources)."""
    from nbclient.client import NotebookClient
    NotebookClient.__init__(ep, nb, km)
    ep.reset_execution_trackers()
    ep._check_assign_resources(resources)


def cleanup_kernel(ep, graceful):
    """Stop the kernel and close its channels (nbclient's private _cleanup_kernel)."""
    ep.shutdown_kernel = "graceful" if graceful else "immediate"
    try:
        ep._cleanup_kernel()
    except Exception as e:   # a kernel that killed itself may leave odd state behind
        ep.log.warning("kernel cleanup: %s", e)


def kernel_pid(km):
    """The kernel's process id (jupyter_client's LocalProvisioner.process, undocumented)."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


def kill_kernel(km):
    """Kill the kernel's whole process group at once (it runs in a session of its own)."""
    pid = kernel_pid(km) if km is not None else None
    if pid:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def limit_messages(context, max_bytes, queue=128):
    """Make every socket of a ZeroMQ context drop messages over max_bytes before they are read
    into memory, and queue at most `queue` messages (pyzmq's context-wide socket defaults)."""
    import zmq
    context.setsockopt(zmq.MAXMSGSIZE, max_bytes)
    context.setsockopt(zmq.RCVHWM, queue)


def stop_forkserver():
    """Stop multiprocessing's fork server and reap it (CPython's private forkserver._forkserver)."""
    import multiprocessing.forkserver as fs
    with contextlib.suppress(Exception):
        fs._forkserver._stop()


async def start_kernel_client(ep, startup_timeout):
    """nbclient's async_start_new_kernel_client without jupyter_client's IOPub flush, which waits
    0.2 s idle on every kernel start: one kernel_info round trip and one IOPub message (IOPub is
    connected) are enough, since nbclient ignores messages that are not its own."""
    from queue import Empty
    from time import monotonic
    from jupyter_core.utils import ensure_async
    ep.kc = ep.km.client()
    await ensure_async(ep.kc.start_channels())
    deadline = monotonic() + startup_timeout
    while True:
        ep.kc.kernel_info()
        try:
            msg = await ensure_async(ep.kc.shell_channel.get_msg(timeout=1))
        except Empty:
            msg = None
        if msg is not None and msg["msg_type"] == "kernel_info_reply":
            try:
                await ensure_async(ep.kc.iopub_channel.get_msg(timeout=0.2))
            except Empty:
                pass
            else:
                ep.kc._handle_kernel_info_reply(msg)
                break
        if not await ensure_async(ep.km.is_alive()):
            raise RuntimeError("the kernel died before replying to kernel_info")
        if monotonic() > deadline:
            raise RuntimeError(f"the kernel did not start in {startup_timeout} s")
    ep.kc.allow_stdin = False
    return ep.kc
