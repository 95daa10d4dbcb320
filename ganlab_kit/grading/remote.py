"""Plain-data requests between the hidden checks and the notebook under grading.

The checks run in a trusted process; the student's code runs in the notebook's kernel
(sandboxed when grading). The ``nb`` fixture of a check is a :class:`RemoteNamespace`:
every use of it is a request that a :class:`NotebookServer` answers inside the
notebook's process. What crosses back is plain data (numbers, strings, bytes, NumPy
arrays, torch tensors and containers of these) decoded with a strict decoder that never
unpickles and never runs code; any other object stays in the notebook and arrives as a
:class:`Remote` handle. Checks decide with their own, trusted code; the notebook can
only answer questions about its own behaviour.

Wire format of one message: an 8-byte length of a JSON header, the header, then each
binary buffer the header refers to (8-byte length + bytes). The in-process connection
(tests, ``run_checks`` on a namespace) sends the same bytes, so checks behave the same
in both.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import json
import math
import os
import random
import socket
import struct
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, MutableMapping, Optional, Tuple

__all__ = [
    "Remote", "RemoteNamespace", "RemoteError", "NotebookServer", "InProcessConnection",
    "SocketConnection", "ConnectionLost", "MissingAnswer", "ProtocolError", "encode", "decode",
    "pack", "unpack", "serve_connection", "unix_socket_at", "GRADER_DIR_ENV", "SOCKET_NAME",
]

#: Environment variable naming the folder that holds the checker's socket (inside the sandbox).
GRADER_DIR_ENV = "GANLAB_GRADER_DIR"
#: File name of the checker's listening socket in that folder.
SOCKET_NAME = "grader.sock"

#: Longest path a Unix socket address holds (sun_path is 108 bytes with its closing zero).
MAX_SOCKET_PATH = 107

MAX_HEADER = 64 * 1024 * 1024        # bytes of JSON in one message
MAX_BUFFERS = 100_000                # binary buffers in one message
MAX_MESSAGE = 1024 * 1024 * 1024     # bytes in one message, buffers included
MAX_DEPTH = 64                       # nesting of containers
_LENGTH = struct.Struct("!Q")

# dtypes that may cross (numeric and bool only: never object arrays)
_NUMPY_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64", "complex64", "complex128"}
_TORCH_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32",
                 "float64", "complex64", "complex128"}


class ProtocolError(RuntimeError):
    """A message broke the protocol (too large, malformed, an unknown dtype...)."""


class ConnectionLost(RuntimeError):
    """The notebook's process stopped answering (it crashed, exited or timed out)."""


class MissingAnswer(AssertionError):
    """The notebook does not define a name the checks need."""


class RemoteError(Exception):
    """The student's code raised an exception in the notebook's process."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.remote_message = message


class RemoteNotImplementedError(RemoteError, NotImplementedError):
    """The student's code still raises NotImplementedError."""


# --------------------------------------------------------------------------- framing
def pack(header: Any, buffers: List[bytes]) -> bytes:
    """One message as bytes."""
    text = json.dumps(header, allow_nan=True, separators=(",", ":")).encode("utf-8")
    parts = [_LENGTH.pack(len(text)), text, _LENGTH.pack(len(buffers))]
    for buffer in buffers:
        parts.append(_LENGTH.pack(len(buffer)))
        parts.append(bytes(buffer))
    return b"".join(parts)


def unpack(data: bytes) -> Tuple[Any, List[bytes]]:
    """Inverse of :func:`pack`, with size limits."""
    view = memoryview(data)
    header, offset = _read_block(view, 0, MAX_HEADER)
    (count,) = _LENGTH.unpack_from(view, offset)
    offset += _LENGTH.size
    if count > MAX_BUFFERS:
        raise ProtocolError(f"{count} buffers in one message (at most {MAX_BUFFERS})")
    buffers = []
    for _ in range(count):
        buffer, offset = _read_block(view, offset, MAX_MESSAGE)
        buffers.append(buffer)
    if offset != len(view):
        raise ProtocolError("trailing bytes after a message")
    try:
        return json.loads(header.decode("utf-8")), buffers
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"malformed message header: {error}") from None


def _read_block(view: memoryview, offset: int, limit: int) -> Tuple[bytes, int]:
    if offset + _LENGTH.size > len(view):
        raise ProtocolError("truncated message")
    (size,) = _LENGTH.unpack_from(view, offset)
    offset += _LENGTH.size
    if size > limit or offset + size > len(view):
        raise ProtocolError("truncated or oversized message")
    return bytes(view[offset:offset + size]), offset + size


# --------------------------------------------------------------------------- values
def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _is_tensorflow_value(value: Any) -> bool:
    module = type(value).__module__ or ""
    return (module.startswith(("tensorflow", "keras", "jax", "jaxlib"))
            and hasattr(value, "shape") and hasattr(value, "dtype")
            and callable(getattr(value, "numpy", None) or getattr(value, "__array__", None)))


def encode(value: Any, buffers: List[bytes], handles: Optional[Callable[[Any], Dict]] = None,
           depth: int = 0) -> Any:
    """``value`` as JSON-able data plus binary ``buffers``; non-plain objects go through
    ``handles`` (the server's table) or, without one, raise :class:`ProtocolError`."""
    if depth > MAX_DEPTH:
        raise ProtocolError("values nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if value is Ellipsis:
        return {"ellipsis": True}
    if type(value) is int:
        return value
    if type(value) is float:
        return value
    if type(value) is complex:
        return {"complex": [value.real, value.imag]}
    if type(value) in (bytes, bytearray):
        buffers.append(bytes(value))
        return {"bytes": len(buffers) - 1}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [encode(item, buffers, handles, depth + 1) for item in value]}
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not (key is None or isinstance(key, (str, int, float, bool, tuple))):
                return _handle(value, handles)
            items.append([encode(key, buffers, handles, depth + 1), encode(item, buffers, handles, depth + 1)])
        return {"dict": items}
    numpy = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _encode_tensor(value, buffers, torch)
    if numpy is not None:
        if isinstance(value, numpy.ndarray) and value.dtype.name in _NUMPY_DTYPES:
            return _encode_array(value, buffers)
        if isinstance(value, numpy.generic) and value.dtype.name in _NUMPY_DTYPES:
            return {"npscalar": _encode_array(numpy.asarray(value), buffers)}
        if _is_tensorflow_value(value):
            try:
                array = numpy.asarray(value.numpy() if hasattr(value, "numpy") else value)
            except Exception:  # not a concrete value (a symbolic tensor): keep it remote
                return _handle(value, handles)
            if array.dtype.name in _NUMPY_DTYPES:
                return _encode_array(array, buffers)
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # int / float subclasses
        return int(value) if isinstance(value, int) else float(value)
    return _handle(value, handles)


def _handle(value: Any, handles: Optional[Callable[[Any], Dict]]) -> Dict:
    if handles is None:
        raise ProtocolError(
            f"a {_type_name(value)} cannot be sent to the notebook: send plain data (numbers, "
            "strings, arrays, tensors, lists, dicts) or Remote handles")
    return handles(value)


def _encode_array(array: Any, buffers: List[bytes]) -> Dict:
    import numpy

    array = numpy.asarray(array)
    if not array.flags.c_contiguous:  # (ascontiguousarray would turn a 0-d array into 1-d)
        array = array.copy(order="C")
    buffers.append(array.tobytes())
    return {"ndarray": len(buffers) - 1, "dtype": array.dtype.name, "shape": list(array.shape)}


def _encode_tensor(tensor: Any, buffers: List[bytes], torch: Any) -> Dict:
    data = tensor.detach()
    if data.is_sparse or getattr(data, "is_quantized", False):
        data = data.to_dense() if data.is_sparse else data.dequantize()
    data = data.cpu()
    if str(data.dtype).replace("torch.", "") not in _TORCH_DTYPES:
        data = data.to(torch.float32)  # bfloat16 and other exotic types cross as float32
    array = data.contiguous().numpy() if data.dtype != torch.bool else data.contiguous().numpy()
    encoded = _encode_array(array, buffers)
    encoded["tensor"] = encoded.pop("ndarray")
    encoded["requires_grad"] = bool(tensor.requires_grad)
    return encoded


def decode(data: Any, buffers: List[bytes], resolve: Optional[Callable[[Dict], Any]] = None,
           depth: int = 0) -> Any:
    """Inverse of :func:`encode`; ``resolve`` turns handle references into objects."""
    if depth > MAX_DEPTH:
        raise ProtocolError("values nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):  # never produced by encode; refuse rather than guess
        raise ProtocolError("malformed value (a bare list)")
    if not isinstance(data, dict) or len(data) == 0:
        raise ProtocolError("malformed value")
    if "list" in data:
        return [decode(item, buffers, resolve, depth + 1) for item in _as_list(data["list"])]
    if "tuple" in data:
        return tuple(decode(item, buffers, resolve, depth + 1) for item in _as_list(data["tuple"]))
    if "dict" in data:
        result = {}
        for pair in _as_list(data["dict"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise ProtocolError("malformed dict item")
            key = decode(pair[0], buffers, resolve, depth + 1)
            try:
                hash(key)
            except TypeError:
                raise ProtocolError("unhashable dict key") from None
            result[key] = decode(pair[1], buffers, resolve, depth + 1)
        return result
    if "ellipsis" in data:
        return Ellipsis
    if "complex" in data:
        real, imag = _as_list(data["complex"])
        return complex(float(real), float(imag))
    if "bytes" in data:
        return _buffer(buffers, data["bytes"])
    if "ndarray" in data:
        return _decode_array(data, "ndarray", buffers)
    if "npscalar" in data:
        inner = data["npscalar"]
        if not isinstance(inner, dict):
            raise ProtocolError("malformed numpy scalar")
        return _decode_array(inner, "ndarray", buffers)[()]
    if "tensor" in data:
        import torch

        array = _decode_array(data, "tensor", buffers)
        tensor = torch.from_numpy(array.copy())
        if data.get("requires_grad") is True and tensor.is_floating_point():
            tensor.requires_grad_(True)
        return tensor
    if "remote" in data:
        if resolve is None:
            raise ProtocolError("a handle where none is allowed")
        return resolve(data)
    raise ProtocolError(f"unknown value kind {sorted(data)}")


def _as_list(value: Any) -> list:
    if not isinstance(value, list):
        raise ProtocolError("malformed container")
    return value


def _buffer(buffers: List[bytes], index: Any) -> bytes:
    if not isinstance(index, int) or not 0 <= index < len(buffers):
        raise ProtocolError("reference to a missing buffer")
    return buffers[index]


def _decode_array(data: Dict, key: str, buffers: List[bytes]) -> Any:
    import numpy

    dtype = data.get("dtype")
    shape = data.get("shape")
    if dtype not in _NUMPY_DTYPES:
        raise ProtocolError(f"dtype {dtype!r} may not cross")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ProtocolError("malformed array shape")
    raw = _buffer(buffers, data[key])
    expected = math.prod(shape) * numpy.dtype(dtype).itemsize
    if len(raw) != expected:
        raise ProtocolError("array data does not match its shape")
    return numpy.frombuffer(raw, dtype=numpy.dtype(dtype)).reshape(shape).copy()


# --------------------------------------------------------------------------- server
def _import_path(path: str) -> Any:
    """``"package.module:attribute.sub"`` -> the object."""
    if not isinstance(path, str) or ":" not in path:
        raise ValueError(f"an import path looks like 'package.module:name', got {path!r}")
    module_name, _, attributes = path.partition(":")
    target = importlib.import_module(module_name)
    for name in attributes.split("."):
        target = getattr(target, name)
    return target


def _mro_names(value: Any) -> List[str]:
    return [f"{kind.__module__}.{kind.__qualname__}" for kind in type(value).__mro__]


class NotebookServer:
    """Answers check requests inside the notebook's process.

    ``namespace`` is the notebook's globals. Objects that are not plain data are kept in
    a table and referred to by number; the table lives for one grading session.
    """

    #: characters of stdout/stderr the student's code may print during one session
    MAX_CAPTURED = 20_000

    def __init__(self, namespace: MutableMapping[str, Any]) -> None:
        self.namespace = namespace
        self._objects: Dict[int, Any] = {}
        self._ids: Dict[int, int] = {}
        self._counter = itertools.count(1)
        self._patches: Dict[int, Dict[str, Any]] = {}
        self.finished = False
        self.captured = io.StringIO()
        # provenance (issue 22): which kit reference pieces the student's code calls
        self._watch: Any = None
        self._trusted: set = set()   # handles of objects the checks made (nb.new / nb.ref)
        self._trusting = False

    # handles ------------------------------------------------------------
    def _handle(self, value: Any) -> Dict:
        key = id(value)
        number = self._ids.get(key)
        if number is None or self._objects.get(number) is not value or \
                (number in self._trusted) != self._trusting:  # the checks' handle stays theirs
            number = next(self._counter)
            self._objects[number] = value
            self._ids[key] = number
            if self._trusting:
                self._trusted.add(number)
        return {"remote": number, "type": _type_name(value)}

    def _resolve(self, data: Dict) -> Any:
        number = data.get("remote")
        if number not in self._objects:
            raise ProtocolError(f"no remote object #{number}")
        return self._objects[number]

    def _value(self, data: Any, buffers: List[bytes]) -> Any:
        return decode(data, buffers, self._resolve)

    # dispatch ----------------------------------------------------------
    def handle_bytes(self, message: bytes) -> bytes:
        """One request in, one reply out (never raises for the student's errors)."""
        try:
            header, buffers = unpack(message)
            if not isinstance(header, dict):
                raise ProtocolError("a request is a JSON object")
            with self._quiet():
                result = self._dispatch(header, buffers)
            out: List[bytes] = []
            # what the checks' own objects give back stays theirs (not the student's code)
            self._trusting = header.get("op") == "import" or header.get("remote") in self._trusted
            try:
                if header.get("keep"):
                    return pack({"ok": self._handle(result)}, out)
                return pack({"ok": encode(result, out, self._handle)}, out)
            finally:
                self._trusting = False
        except KeyboardInterrupt:  # a cell timeout interrupts the kernel: stop serving
            raise
        except BaseException as error:  # the student's code may raise anything, sys.exit too
            return pack({"error": self._describe(error)}, [])

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """The student's prints and warnings during a check go to a capped buffer."""
        sink = _CappedWriter(self.captured, self.MAX_CAPTURED)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield

    @staticmethod
    def _describe(error: BaseException) -> Dict:
        text = ""
        try:
            text = str(error)
        except Exception:  # a student's exception whose __str__ fails
            pass
        described = {"type": type(error).__name__, "message": text[:2000],
                     "not_implemented": isinstance(error, NotImplementedError)}
        if isinstance(error, _Missing):
            described["missing"] = error.name
        if isinstance(error, StopIteration):
            described["stop"] = True
        return described

    def _dispatch(self, header: Dict, buffers: List[bytes]) -> Any:
        op = header.get("op")
        if op == "global":
            name = header["name"]
            if name not in self.namespace:
                raise _Missing(name)
            return self.namespace[name]
        if op == "has":
            return header["name"] in self.namespace
        if op == "import":
            target = _import_path(header["path"])
            if header.get("call"):
                args = self._value(header.get("args", {"list": []}), buffers)
                kwargs = self._value(header.get("kwargs", {"dict": []}), buffers)
                return target(*args, **kwargs)
            return target
        if op in ("getattr", "setattr", "getitem", "call", "len", "iter", "next", "type"):
            target = self._resolve(header)
            if op == "getattr":
                return getattr(target, _attribute(header["name"]))
            if op == "setattr":
                setattr(target, _attribute(header["name"]), self._value(header["value"], buffers))
                return None
            if op == "getitem":
                return target[self._value(header["key"], buffers)]
            if op == "call":
                args = self._value(header.get("args", {"list": []}), buffers)
                kwargs = self._value(header.get("kwargs", {"dict": []}), buffers)
                if self._watch is not None and header.get("remote") not in self._trusted:
                    with self._watch:
                        return target(*args, **kwargs)
                return target(*args, **kwargs)
            if op == "len":
                return len(target)
            if op == "iter":
                return _Iterator(iter(target))
            if op == "next":
                return next(target)
            return _mro_names(target)
        if op == "patch":
            replacements = self._value(header["values"], buffers)
            missing = object()
            token = next(self._counter)
            self._patches[token] = {name: self.namespace.get(name, missing) for name in replacements}
            self._patches[token]["__missing__"] = missing
            self.namespace.update(replacements)
            return token
        if op == "unpatch":
            saved = self._patches.pop(header["token"], {})
            missing = saved.pop("__missing__", None)
            for name, value in saved.items():
                if value is missing:
                    self.namespace.pop(name, None)
                else:
                    self.namespace[name] = value
            return None
        if op == "seed":
            seed_everything(int(header["seed"]))
            return None
        if op == "done":
            self.finished = True
            self.close()
            return None
        if op == "hello":
            return {"pid": os.getpid()}
        if op == "watch":  # the kit pieces this part must not delegate to (plain strings)
            from .provenance import CallWatch

            paths = header.get("paths")
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise ProtocolError("watch takes a list of import paths")
            self._watch = CallWatch(paths)
            return None
        if op == "watched":
            return list(self._watch.hits) if self._watch is not None else []
        raise ProtocolError(f"unknown request {op!r}")

    def close(self) -> None:
        """Forget every handle and undo patches left by an interrupted check."""
        for token in list(self._patches):
            self._dispatch({"op": "unpatch", "token": token}, [])
        self._objects.clear()
        self._ids.clear()


class _Missing(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Iterator:
    """Wraps an iterator so that it always crosses as a handle."""

    def __init__(self, iterator: Iterator) -> None:
        self._iterator = iterator

    def __next__(self) -> Any:
        return next(self._iterator)


class _CappedWriter(io.TextIOBase):
    def __init__(self, target: io.StringIO, limit: int) -> None:
        self._target = target
        self._limit = limit

    def write(self, text: str) -> int:
        room = self._limit - self._target.tell()
        if room > 0:
            self._target.write(text[:room])
        return len(text)


def _attribute(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ProtocolError("attribute names are strings")
    return name


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, torch, and TensorFlow / Keras where they are imported."""
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "utils") and hasattr(keras.utils, "set_random_seed"):
        keras.utils.set_random_seed(seed)
    elif "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)


@contextlib.contextmanager
def preserved_random_state() -> Iterator[None]:
    """Grading must not change the random numbers the notebook draws afterwards."""
    python_state = random.getstate()
    numpy = sys.modules.get("numpy")
    numpy_state = numpy.random.get_state() if numpy is not None else None
    torch = sys.modules.get("torch")
    torch_state = torch.random.get_rng_state() if torch is not None else None
    grad_enabled = torch.is_grad_enabled() if torch is not None else None
    try:
        yield
    finally:
        random.setstate(python_state)
        if numpy_state is not None:
            numpy.random.set_state(numpy_state)
        torch = sys.modules.get("torch")
        if torch is not None and torch_state is not None:
            torch.random.set_rng_state(torch_state)
            torch.set_grad_enabled(grad_enabled)


# --------------------------------------------------------------------------- connections
class InProcessConnection:
    """Requests answered by a server in this process, through the same bytes."""

    def __init__(self, server: NotebookServer) -> None:
        self.server = server

    def request(self, header: Dict, buffers: List[bytes]) -> Tuple[Any, List[bytes]]:
        return unpack(self.server.handle_bytes(pack(header, buffers)))

    def close(self) -> None:
        self.server.close()


def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _receive(sock: socket.socket, limit: int = MAX_MESSAGE) -> bytes:
    size_bytes = _receive_exactly(sock, _LENGTH.size)
    (size,) = _LENGTH.unpack(size_bytes)
    if size > limit:
        raise ProtocolError(f"a message of {size} bytes (at most {limit})")
    return _receive_exactly(sock, size)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            raise ConnectionLost("the notebook closed the connection")
        chunks.extend(chunk)
    return bytes(chunks)


class SocketConnection:
    """Requests sent over a connected socket to a server in another process."""

    def __init__(self, sock: socket.socket, timeout: float = 120.0) -> None:
        self.sock = sock
        self.timeout = timeout
        self.broken: Optional[str] = None

    def request(self, header: Dict, buffers: List[bytes]) -> Tuple[Any, List[bytes]]:
        if self.broken:
            raise ConnectionLost(self.broken)
        self.sock.settimeout(self.timeout)
        try:
            _send(self.sock, pack(header, buffers))
            return unpack(_receive(self.sock))
        except socket.timeout:
            self.broken = (f"the notebook did not answer within {self.timeout:g} s (an endless "
                           "loop, or code far too slow)")
        except (OSError, ConnectionLost) as error:
            self.broken = f"the notebook's kernel stopped answering ({type(error).__name__})"
        except ProtocolError as error:
            self.broken = f"the notebook sent a malformed answer ({error})"
        raise ConnectionLost(self.broken)

    def close(self) -> None:
        if not self.broken:
            try:
                self.request({"op": "done"}, [])
            except ConnectionLost:
                pass
        with contextlib.suppress(OSError):
            self.sock.close()


def serve_connection(sock: socket.socket, namespace: MutableMapping[str, Any]) -> None:
    """Answer requests on ``sock`` from ``namespace`` until the checker says done."""
    server = NotebookServer(namespace)
    with preserved_random_state():
        try:
            while not server.finished:
                try:
                    message = _receive(sock)
                except ConnectionLost:
                    break
                _send(sock, server.handle_bytes(message))
        finally:
            server.close()


# --------------------------------------------------------------------------- client
class Remote:
    """An object that lives in the notebook's process."""

    __slots__ = ("_remote_id", "_remote_type", "_remote_client")

    def __init__(self, client: "_Client", number: int, type_name: str) -> None:
        object.__setattr__(self, "_remote_id", number)
        object.__setattr__(self, "_remote_type", type_name)
        object.__setattr__(self, "_remote_client", client)

    def _remote_ref(self) -> Dict:
        return {"remote": self._remote_id}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._remote_client.ask({"op": "call", **self._remote_ref()}, args=args, kwargs=kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._remote_client.ask({"op": "getattr", "name": name, **self._remote_ref()})

    def __setattr__(self, name: str, value: Any) -> None:
        self._remote_client.ask({"op": "setattr", "name": name, **self._remote_ref()}, value=value)

    def __getitem__(self, key: Any) -> Any:
        return self._remote_client.ask({"op": "getitem", **self._remote_ref()}, key=key)

    def __len__(self) -> int:
        length = self._remote_client.ask({"op": "len", **self._remote_ref()})
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise RemoteError("TypeError", "len() of the notebook's object is not a count")
        return length

    def __iter__(self) -> Iterator[Any]:
        iterator = self._remote_client.ask({"op": "iter", **self._remote_ref()})
        if not isinstance(iterator, Remote):
            raise RemoteError("TypeError", "the notebook's object is not iterable")
        for _ in range(1_000_000):
            try:
                yield self._remote_client.ask({"op": "next", **iterator._remote_ref()})
            except RemoteError as error:
                if getattr(error, "stop", False):
                    return
                raise
        raise RemoteError("RuntimeError", "the notebook's iterator does not end")

    def __repr__(self) -> str:
        return f"<Remote {self._remote_type} #{self._remote_id}>"

    def __reduce__(self):  # never pickled
        raise TypeError("Remote handles cannot be pickled")


class _Client:
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def _encode(self, value: Any, buffers: List[bytes]) -> Any:
        return encode(value, buffers, self._handle_of)

    def _handle_of(self, value: Any) -> Dict:
        if isinstance(value, Remote):
            if value._remote_client is not self:
                raise ProtocolError("a handle from another notebook")
            return value._remote_ref()
        raise ProtocolError(
            f"a {_type_name(value)} cannot be sent to the notebook: send plain data (numbers, "
            "strings, arrays, tensors, lists, dicts) or objects made there (nb.new / nb.ref)")

    def ask(self, header: Dict, **values: Any) -> Any:
        buffers: List[bytes] = []
        message = dict(header)
        for key, value in values.items():
            if key == "args":
                message["args"] = self._encode(list(value), buffers)
            elif key == "kwargs":
                message["kwargs"] = self._encode(dict(value), buffers)
            else:
                message[key] = self._encode(value, buffers)
        reply, reply_buffers = self.connection.request(message, buffers)
        if not isinstance(reply, dict):
            raise ConnectionLost("the notebook sent a malformed answer")
        if "error" in reply:
            raise _error_from(reply["error"])
        if "ok" not in reply:
            raise ConnectionLost("the notebook sent a malformed answer")
        try:
            return decode(reply["ok"], reply_buffers, self._remote)
        except ProtocolError as error:
            raise ConnectionLost(f"the notebook sent a malformed answer ({error})") from None

    def _remote(self, data: Dict) -> Remote:
        number = data.get("remote")
        type_name = data.get("type", "object")
        if not isinstance(number, int) or not isinstance(type_name, str):
            raise ProtocolError("malformed handle")
        return Remote(self, number, type_name[:200])


def _error_from(described: Any) -> Exception:
    if not isinstance(described, dict):
        return ConnectionLost("the notebook sent a malformed error")
    type_name = str(described.get("type", "Exception"))[:100]
    message = str(described.get("message", ""))[:2000]
    if described.get("missing"):
        name = str(described["missing"])[:100]
        return MissingAnswer(
            f"Your notebook defines no `{name}`. Run the cell that defines it "
            f"(and keep the name exactly `{name}`) before grading.")
    if described.get("not_implemented"):
        return RemoteNotImplementedError(type_name, message)
    error = RemoteError(type_name, message)
    if described.get("stop"):
        error.stop = True  # type: ignore[attr-defined]
    return error


class RemoteNamespace:
    """The ``nb`` fixture: the notebook under grading, reached through requests.

    ``nb.Generator`` is the student's class (a :class:`Remote`); ``nb.path("generator.pt")``
    a file of the submission; ``nb.new("torch.optim:Adam", params, lr=1e-3)`` makes an
    object in the notebook's process; ``with nb.patched(name=value)`` swaps a global.
    """

    def __init__(self, connection: Any, directory: Path) -> None:
        object.__setattr__(self, "_client", _Client(connection))
        object.__setattr__(self, "directory", Path(directory))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._client.ask({"op": "global", "name": name})

    def __getitem__(self, name: str) -> Any:
        return self._client.ask({"op": "global", "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("checks must not change the notebook's namespace; use nb.patched()")

    def __contains__(self, name: str) -> bool:
        return self._client.ask({"op": "has", "name": name}) is True

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def path(self, name: str) -> Path:
        """A file of the submission (next to the notebook)."""
        return self.directory / name

    def new(self, path: str, *args: Any, **kwargs: Any) -> Any:
        """Call the importable ``"package.module:name"`` in the notebook's process."""
        return self._client.ask({"op": "import", "path": path, "call": True}, args=args, kwargs=kwargs)

    def ref(self, path: str) -> Any:
        """A handle to the importable ``"package.module:name"`` in the notebook's process."""
        return self._client.ask({"op": "import", "path": path, "call": False})

    def type_names(self, remote: Any) -> List[str]:
        """Qualified names of the classes of ``remote`` (its MRO), most specific first."""
        if not isinstance(remote, Remote):
            kind = type(remote)
            return [f"{k.__module__}.{k.__qualname__}" for k in kind.__mro__]
        names = self._client.ask({"op": "type", **remote._remote_ref()})
        return [str(name) for name in names] if isinstance(names, list) else []

    def type_name(self, remote: Any) -> str:
        return self.type_names(remote)[0]

    def isinstance(self, remote: Any, path: str) -> bool:
        """Whether ``remote`` is an instance of ``"package.module:Class"`` (by qualified name)."""
        module, _, name = path.partition(":")
        wanted = importlib.import_module(module)
        for part in name.split("."):
            wanted = getattr(wanted, part)
        qualified = f"{wanted.__module__}.{wanted.__qualname__}"
        return qualified in self.type_names(remote)

    @contextlib.contextmanager
    def patched(self, **replacements: Any) -> Iterator["RemoteNamespace"]:
        """Temporarily replace notebook globals (restored afterwards, even on failure)."""
        token = self._client.ask({"op": "patch"}, values=replacements)
        try:
            yield self
        finally:
            with contextlib.suppress(ConnectionLost):
                self._client.ask({"op": "unpatch", "token": token})

    def seed(self, seed: int) -> None:
        self._client.ask({"op": "seed", "seed": int(seed)})

    def keep(self, function: Any, *args: Any, **kwargs: Any) -> "Remote":
        """Call the notebook's ``function`` but keep the result there, as a handle, even when
        it is plain data (e.g. a tensor still attached to the notebook's autograd graph)."""
        if not isinstance(function, Remote):
            raise TypeError("nb.keep calls a Remote (a notebook object, nb.ref(...) or nb.X)")
        return self._client.ask({"op": "call", "keep": True, **function._remote_ref()},
                                args=args, kwargs=kwargs)


def unix_socket_at(path: str, listen: int = 0) -> socket.socket:
    """A Unix stream socket connected to ``path`` (``listen`` > 0: bound there and listening
    with that backlog). A path longer than a socket address holds (a deep ``$TMPDIR``, a test's
    temporary folder) is reached through this process's descriptor of its folder."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    folder_fd = None
    try:
        address = os.fsencode(path)
        if len(address) > MAX_SOCKET_PATH:
            folder, name = os.path.split(address)
            folder_fd = os.open(folder or b".", os.O_PATH | os.O_DIRECTORY)
            address = b"/proc/self/fd/%d/%s" % (folder_fd, name)
            if len(address) > MAX_SOCKET_PATH:
                raise OSError(f"the socket name {os.fsdecode(name)!r} is too long")
        if listen:
            sock.bind(address)
            sock.listen(listen)
        else:
            sock.connect(address)
    except BaseException:
        sock.close()
        raise
    finally:
        if folder_fd is not None:
            os.close(folder_fd)
    return sock


def connect_and_serve(namespace: MutableMapping[str, Any], directory: Optional[str] = None) -> None:
    """Kernel side of a grade cell: connect to the checker's socket and answer its requests."""
    folder = directory or os.environ.get(GRADER_DIR_ENV)
    if not folder:
        raise RuntimeError(f"{GRADER_DIR_ENV} is not set: no checker is waiting for this notebook")
    sock = unix_socket_at(os.path.join(folder, SOCKET_NAME))
    try:
        serve_connection(sock, namespace)
    finally:
        sock.close()
