"""The plain-data protocol between hidden checks and the notebook (ganlab_kit.grading.remote)."""
import pickle
import socket
import threading

import numpy
import pytest
import torch

from ganlab_kit.grading.remote import (ConnectionLost, InProcessConnection, MissingAnswer,
                                       NotebookServer, ProtocolError, Remote, RemoteError,
                                       RemoteNamespace, SocketConnection, decode, encode, pack,
                                       serve_connection, unpack)


def namespace_for(values):
    return RemoteNamespace(InProcessConnection(NotebookServer(values)), directory=".")


def roundtrip(value):
    buffers = []
    data = encode(value, buffers)
    header, buffers = unpack(pack({"v": data}, buffers))
    return decode(header["v"], buffers)


def test_plain_values_cross_as_copies():
    """Do numbers, strings, containers, arrays and tensors arrive equal, with their types?"""
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    value = {"a": [1, 2.5, None, True, "x", b"\x00\x01", 1 + 2j, ...], 3: (numpy.int16(7),),
             "t": tensor, "n": numpy.ones((2, 2), dtype=numpy.uint8), "size": torch.Size([2, 3])}
    back = roundtrip(value)
    assert back["a"] == [1, 2.5, None, True, "x", b"\x00\x01", 1 + 2j, ...]
    assert back[3] == (7,) and type(back[3][0]) is numpy.int16
    assert torch.equal(back["t"], tensor) and back["t"] is not tensor
    assert back["n"].dtype == numpy.uint8 and back["size"] == (2, 3)


def test_objects_cannot_be_sent_by_value():
    """Is a function or a module refused as a value (it would have to be pickled to cross)?"""
    with pytest.raises(ProtocolError, match="cannot be sent"):
        encode(lambda x: x, [])
    with pytest.raises(ProtocolError):
        encode(torch.nn.Linear(2, 2), [])


@pytest.mark.parametrize("header", [
    {"v": {"ndarray": 0, "dtype": "object", "shape": [1]}},        # object arrays never cross
    {"v": {"ndarray": 0, "dtype": "float32", "shape": [1000]}},    # data shorter than the shape
    {"v": {"pickle": 0}},                                          # an unknown kind
    {"v": [1, 2]},                                                 # a bare list
    {"v": {"remote": 1}},                                          # a handle where none may be
])
def test_malformed_values_are_refused(header):
    """Does the decoder refuse object dtypes, short buffers, unknown kinds and stray handles?"""
    with pytest.raises(ProtocolError):
        decode(header["v"], [pickle.dumps(object())])


def test_handles_call_and_attributes():
    """Do functions and objects stay in the notebook, reachable by call, attribute, item, len, iter?"""
    layer = torch.nn.Linear(3, 2)
    nb = namespace_for({"layer": layer, "double": lambda x: 2 * x, "items": [1, 2, 3]})
    remote = nb.layer
    assert isinstance(remote, Remote) and nb.type_name(remote) == "torch.nn.modules.linear.Linear"
    assert nb.isinstance(remote, "torch.nn:Module")
    out = remote(torch.ones(4, 3))
    assert tuple(out.shape) == (4, 2) and torch.allclose(out, layer(torch.ones(4, 3)))
    assert remote.in_features == 3 and nb.double(21) == 42
    remote.in_features = 5
    assert layer.in_features == 5
    assert len(nb.items) == 3 and [p.shape for p in remote.parameters()] == [(2, 3), (2,)]
    optimizer = nb.new("torch.optim:SGD", remote.parameters(), lr=0.5)
    assert nb.type_name(optimizer) == "torch.optim.sgd.SGD"


def test_errors_missing_names_and_not_implemented():
    """Does student code's exception arrive as RemoteError, a missing name as MissingAnswer?"""
    def broken():
        raise ValueError("bad value")

    def unanswered():
        raise NotImplementedError()

    nb = namespace_for({"broken": broken, "unanswered": unanswered})
    with pytest.raises(RemoteError, match="ValueError: bad value"):
        nb.broken()
    with pytest.raises(NotImplementedError):
        nb.unanswered()
    with pytest.raises(MissingAnswer, match="defines no `Generator`"):
        nb.Generator
    assert "broken" in nb and "Generator" not in nb


def test_patched_globals_are_restored():
    """Does nb.patched swap a notebook global for a handle and put the original back?"""
    values = {"f": lambda: "original", "call_f": None}
    values["call_f"] = lambda: values["f"]()
    nb = namespace_for(values)
    with nb.patched(f=nb.ref("os.path:sep")):
        assert nb.f == "/"
    assert nb.call_f() == "original"


def test_keep_leaves_a_tensor_in_the_notebook():
    """Does nb.keep return a handle to a result that would otherwise be copied?"""
    nb = namespace_for({"make": lambda: torch.ones(2, requires_grad=True) * 2})
    kept = nb.keep(nb.make)
    assert isinstance(kept, Remote) and kept.requires_grad is True


def test_printing_and_warnings_in_student_code_are_captured():
    """Do prints and warnings of the student's code stay out of the checker's output?"""
    def noisy():
        import sys
        import warnings
        print("hello")
        print("oops", file=sys.stderr)
        warnings.warn("careful")
        return 1

    server = NotebookServer({"noisy": noisy})
    nb = RemoteNamespace(InProcessConnection(server), ".")
    assert nb.noisy() == 1
    assert "hello" in server.captured.getvalue() and "oops" in server.captured.getvalue()


def test_socket_connection_and_a_lying_server():
    """Over a socket: do answers arrive, and does a garbage or silent answer become ConnectionLost?"""
    ours, theirs = socket.socketpair()
    thread = threading.Thread(target=serve_connection, args=(theirs, {"x": 41}), daemon=True)
    thread.start()
    nb = RemoteNamespace(SocketConnection(ours, timeout=10), ".")
    assert nb.x == 41
    ours_connection = object.__getattribute__(nb, "_client").connection
    ours_connection.close()
    thread.join(5)
    assert not thread.is_alive()

    liar, fake = socket.socketpair()
    nb = RemoteNamespace(SocketConnection(liar, timeout=2), ".")

    def garbage():
        fake.recv(1 << 16)
        fake.sendall((2 ** 40).to_bytes(8, "big"))   # "a terabyte follows"

    threading.Thread(target=garbage, daemon=True).start()
    with pytest.raises(ConnectionLost):
        nb.x
    with pytest.raises(ConnectionLost):   # a broken connection stays broken: no retry, no hang
        nb.y

    silent, mute = socket.socketpair()
    nb = RemoteNamespace(SocketConnection(silent, timeout=0.5), ".")
    with pytest.raises(ConnectionLost, match="did not answer within"):
        nb.x
