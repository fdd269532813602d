"""A wall around TensorFlow: a command runs in a forked child, so a native abort cannot kill it.

TensorFlow kernels end the process on some bad inputs (``Check failed`` in ``tensor_format.h`` for a
Conv2D fed a tensor of the wrong rank, SIGABRT; segfaults in a few others). The CLI forks before
TensorFlow is imported; the child runs the command with its stdout relayed live and its stderr held
back, and tells the parent which stage it is in. When the child dies of a signal, the parent prints
one line -- the stage, the check that failed, the kernel -- removes what the child left half made
(its out-dir lock, temp files, a directory it created) and exits 2. A child that ends normally has
its stderr passed on unchanged, so the cost is one fork and two pipes (measured in the README).
"""
import os
import re
import select
import signal
import sys

_status_fd = None  # in the child: where stage notes go


def stage(text):
    """Tell the parent (when there is one) what TensorFlow is about to do, for the abort message."""
    if _status_fd is not None:
        try:
            os.write(_status_fd, ("stage " + text.replace("\n", " ") + "\n").encode("utf-8", "replace"))
        except OSError:
            pass


def made(kind, path, created=False):
    """Tell the parent about a lock file (``kind='lock'``) to clean up if this process dies."""
    if _status_fd is not None:
        try:
            os.write(_status_fd, f"{kind} {int(created)} {command_pid()} {path}\n".encode("utf-8", "replace"))
        except OSError:
            pass


def command_pid():
    """The pid a user sees for this command: the guarding parent's, when this is its child."""
    return os.getppid() if _status_fd is not None else os.getpid()


def can_fork():
    """Forking is safe before TensorFlow's thread pools exist, and only where fork exists."""
    return hasattr(os, "fork") and "tensorflow" not in sys.modules and _status_fd is None


def run_guarded(fn, prog, verbose=False):
    """Run ``fn()`` (-> exit code) in a forked child; a death by signal becomes one line and exit 2."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    st_r, st_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: run the command, never return into the caller's stack
        code = 1
        try:
            _die_with(parent)
            os.close(out_r), os.close(err_r), os.close(st_r)
            global _status_fd
            _status_fd = st_w
            sys.stdout = os.fdopen(out_w, "w", buffering=1, encoding="utf-8", errors="replace")
            sys.stderr = os.fdopen(err_w, "w", buffering=1, encoding="utf-8", errors="replace")
            os.dup2(out_w, 1)  # TensorFlow's C++ writes go through the same pipes
            os.dup2(err_w, 2)
            code = fn()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # noqa: BLE001 -- the child must exit, whatever happened
            try:
                if verbose:  # (--verbose promises the traceback of an unexpected failure)
                    import traceback

                    traceback.print_exc(file=sys.stderr)
                print(f"{prog}: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            except Exception:  # noqa: BLE001
                pass
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:  # noqa: BLE001
                pass
            os._exit(code if isinstance(code, int) else 1)
    os.close(out_w), os.close(err_w), os.close(st_w)
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child, which reports it
    forward = {s: signal.signal(s, lambda sig, _f: os.kill(pid, sig)) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        err, status = _relay(out_r, err_r, st_r, verbose)
        _, wstatus = os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGINT, old_int)
        for s, handler in forward.items():
            signal.signal(s, handler)
    err_text = err.decode("utf-8", "replace")
    if os.WIFSIGNALED(wstatus):
        sig = os.WTERMSIG(wstatus)
        _clean_up(status["made"])
        if verbose:
            sys.stderr.write(err_text)
        print(f"{prog}: error: {abort_message(sig, err_text, status['stage'])}", file=sys.stderr)
        sys.stderr.flush()
        return 2
    if not verbose:
        sys.stderr.write(err_text)
    sys.stderr.flush()
    return os.WEXITSTATUS(wstatus)


def _die_with(parent):
    """Linux: the child is killed when the parent dies (kill -9 of the command stops all of it)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child outlives a killed parent, as any subprocess
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _relay(out_r, err_r, st_r, verbose):
    """Pass the child's stdout on as it comes; keep its stderr (live with --verbose); read its notes."""
    err, status, notes = bytearray(), {"stage": "", "made": []}, b""
    closed = False
    open_fds = {out_r, err_r, st_r}
    out = getattr(sys.stdout, "buffer", None)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [])
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                os.close(fd)
                continue
            if fd == out_r:
                if closed:
                    continue  # (the reader left: the child's output is drained, not written)
                try:
                    if out is not None:
                        out.write(chunk)
                        out.flush()
                    else:  # an in-memory stdout (tests)
                        sys.stdout.write(chunk.decode("utf-8", "replace"))
                        sys.stdout.flush()
                except BrokenPipeError:  # | head: the reader has what it wanted; not an error
                    closed = True
                    try:
                        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    except (OSError, ValueError):
                        pass
            elif fd == err_r:
                if verbose:
                    sys.stderr.write(chunk.decode("utf-8", "replace"))
                    sys.stderr.flush()
                else:
                    err += chunk
            else:
                notes += chunk
                *lines, notes = notes.split(b"\n")
                for line in lines:
                    kind, _, rest = line.decode("utf-8", "replace").partition(" ")
                    if kind == "stage":
                        status["stage"] = rest
                    elif kind == "lock":
                        created, pid, path = rest.split(" ", 2)
                        status["made"].append((path, created == "1", pid))
    return bytes(err), status


def _clean_up(made):
    """Remove the lock files (and temp files, and a directory it created) a dead child left."""
    for path, created, pid in made:
        d = os.path.dirname(path)
        try:
            with open(path) as f:
                if f.read().strip() != f"pid {pid}":
                    continue  # another run holds it now
            os.unlink(path)
            for name in os.listdir(d):
                if name.startswith(".") and name.endswith(".tmp"):
                    os.unlink(os.path.join(d, name))
            if created and not os.listdir(d):
                os.rmdir(d)
        except OSError:
            pass


_KERNEL = re.compile(r"tensorflow::(?:\w+::)*(?:\(anonymous namespace\)::)?(\w+Op)(?:<[^>]*>)?::Compute")


def abort_message(sig, err_text, stage_text):
    """One line for a child that TensorFlow (or anything native) killed with ``sig``."""
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    where = f" while {stage_text}" if stage_text else ""
    check = ""
    for line in err_text.splitlines():
        m = re.search(r"(\w+\.(?:h|cc)):\d+\] (Check failed: .*)", line)
        if m:
            check = f": {m.group(2).strip()[:160]} ({m.group(1)})"
            break
    kernel = _KERNEL.search(err_text)
    op = f" in the {kernel.group(1)} kernel" if kernel else ""
    hint = ("an input probably has the wrong rank or shape for the op it feeds: give the real shapes with "
            "--input-shapes (graphtools inspect shows what the graph declares)")
    return f"TensorFlow aborted the process ({name}){op}{where}{check}; {hint}"
