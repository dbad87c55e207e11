"""coursegrade/compat.py holds every use of another library's private API: this checks each one
against the installed versions, and fails when requirements.txt pins other versions (re-read
compat.py, then update compat.PINNED)."""
import inspect
import re
from importlib.metadata import version

from course import ROOT
from coursegrade import compat


def test_pins_are_the_versions_compat_was_written_for():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    norm = {k.lower().replace("-", "_"): v for k, v in pins.items()}
    for name, pinned in compat.PINNED.items():
        assert norm.get(name.lower().replace("-", "_")) == pinned, f"{name} is pinned to another version"
        assert version(name) == pinned, f"{name} {version(name)} installed, compat.py knows {pinned}"


def test_nbclient_and_nbconvert_internals():
    from nbclient.client import NotebookClient
    from nbconvert.preprocessors import ExecutePreprocessor
    assert callable(NotebookClient._cleanup_kernel) and callable(NotebookClient.reset_execution_trackers)
    assert list(inspect.signature(NotebookClient.output).parameters) == ["self", "outs", "msg", "display_id", "cell_index"]
    assert list(inspect.signature(ExecutePreprocessor._check_assign_resources).parameters) == ["self", "resources"]
    assert "shutdown_kernel" in NotebookClient.class_traits()


def test_jupyter_client_ipykernel_and_zmq():
    import zmq
    from ipykernel.kernelbase import Kernel
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner
    assert "self.process" in inspect.getsource(LocalProvisioner)
    assert list(inspect.signature(Kernel.raw_input).parameters) == ["self", "prompt"]
    assert callable(BlockingKernelClient.input)
    ctx = zmq.Context()
    try:
        compat.limit_messages(ctx, 1024)
        assert ctx.socket(zmq.SUB).getsockopt(zmq.MAXMSGSIZE) == 1024
    finally:
        ctx.destroy()


def test_kernel_client_start_mirrors_nbclient():
    """compat.start_kernel_client copies nbclient's async_start_new_kernel_client minus the flush."""
    from jupyter_client.client import KernelClient
    from nbclient.client import NotebookClient
    src = inspect.getsource(NotebookClient.async_start_new_kernel_client)
    assert "self.km.client()" in src and "wait_for_ready" in src and "allow_stdin = False" in src
    assert callable(KernelClient._handle_kernel_info_reply)
    assert "Flush IOPub channel" in inspect.getsource(KernelClient._async_wait_for_ready)


def test_cpython_forkserver_internals():
    import multiprocessing.forkserver as fs
    assert callable(fs._forkserver._stop)
