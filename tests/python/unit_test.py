#!/usr/bin/env python3
"""unit_test.py: the tasq package's parts that need no server (label
unit): payload codecs, errors, finding the library, the build backend.

    PYTHONPATH=python python3 tests/python/unit_test.py [-v]
"""
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

import tasq


class CodecTest(unittest.TestCase):
    def test_int64_column_is_the_square_wire_format(self):
        # PROTOCOL.md 8.2: square payloads 3 and -1, width 8.
        width, data, lengths = tasq.INT64.encode_column([3, -1])
        self.assertEqual(width, 8)
        self.assertIsNone(lengths)
        self.assertEqual(data, bytes([3, 0, 0, 0, 0, 0, 0, 0]) +
                         b"\xff" * 8)
        self.assertEqual(tasq.INT64.decode_column(8, data, None, 2),
                         [3, -1])

    def test_int64_bounds(self):
        lo, hi = -2 ** 63, 2 ** 63 - 1
        w, data, _ = tasq.INT64.encode_column([lo, hi])
        self.assertEqual(struct.unpack("<2q", data), (lo, hi))
        for bad in (2 ** 63, lo - 1):
            with self.assertRaises(OverflowError):
                tasq.INT64.encode_column([1, bad])
            with self.assertRaises(OverflowError):
                tasq.INT64.encode(bad)

    def test_int64_refuses_non_ints(self):
        for bad in ("3", 3.0, b"12345678", True, None):
            with self.assertRaises(TypeError):
                tasq.INT64.encode_column([bad])

    def test_int64_decode_checks_the_width(self):
        with self.assertRaises(ValueError):
            tasq.INT64.decode(b"1234")

    def test_bytes_column(self):
        # PROTOCOL.md 8.2: payloads "ab", "", "cde": lengths [2, 0, 3].
        self.assertEqual(tasq.BYTES.encode_column(["ab", b"", "cde"]),
                         (0, b"abcde", [2, 0, 3]))
        self.assertEqual(tasq.BYTES.encode_column([b"ab", bytearray(b"cd")]),
                         (2, b"abcd", None))
        self.assertEqual(tasq.BYTES.encode_column(["é"]),
                         (2, "é".encode(), None))
        self.assertEqual(tasq.BYTES.encode_column([]), (0, b"", []))
        self.assertEqual(tasq.BYTES.decode_column(0, b"abcde", [2, 0, 3], 3),
                         [b"ab", b"", b"cde"])
        with self.assertRaises(TypeError):
            tasq.BYTES.encode_column([3])

    def test_default_codecs(self):
        from tasq._codec import codec_for
        self.assertIs(codec_for("square"), tasq.INT64)
        self.assertIs(codec_for("sha256"), tasq.BYTES)
        self.assertIs(codec_for("cube", {"cube": tasq.INT64}), tasq.INT64)


class ErrorTest(unittest.TestCase):
    def test_codes(self):
        self.assertEqual(tasq.NOT_FOUND, 5)
        self.assertEqual(tasq.OUT_OF_RANGE, 11)
        self.assertEqual(tasq.code_name(16), "UNAUTHENTICATED")
        e = tasq.TaskError(tasq.OUT_OF_RANGE, "too big", 7)
        self.assertIsInstance(e, tasq.Error)
        self.assertEqual((e.code, e.name, e.index), (11, "OUT_OF_RANGE", 7))
        self.assertIn("task 7", str(e))

    def test_library_return_values(self):
        from tasq._errors import error_from_rv
        e = error_from_rv(0x4000 + 14, "gone")
        self.assertEqual((e.code, e.message), (tasq.UNAVAILABLE, "gone"))


class LoadTest(unittest.TestCase):
    def test_tasq_library_names_the_library(self):
        # A TASQ_LIBRARY that does not exist is an error naming it, not
        # a silent fallback to another libtasq.
        code = ("import tasq\n"
                "try:\n"
                "    tasq.library_path()\n"
                "except tasq.LibraryNotFound as e:\n"
                "    print('notfound', e)\n")
        env = dict(os.environ, TASQ_LIBRARY="/nonexistent/libtasq.so.1")
        out = subprocess.run([sys.executable, "-c", code], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertIn("notfound", out.stdout, out.stderr)
        self.assertIn("/nonexistent/libtasq.so.1", out.stdout)


class BackendTest(unittest.TestCase):
    def test_wheel(self):
        here = os.path.dirname(tasq.__file__)
        sys.path.insert(0, os.path.join(os.path.dirname(here), "_build"))
        try:
            import tasq_build
        finally:
            sys.path.pop(0)
        with tempfile.TemporaryDirectory() as d:
            old = os.environ.get("TASQ_LIBRARY")
            os.environ["TASQ_LIBRARY"] = "/opt/x/libtasq.so.1"
            try:
                name = tasq_build.build_wheel(d)
            finally:
                if old is None:
                    del os.environ["TASQ_LIBRARY"]
                else:
                    os.environ["TASQ_LIBRARY"] = old
            self.assertEqual(name, "tasq-%s-py3-none-any.whl"
                             % tasq.__version__)
            with zipfile.ZipFile(os.path.join(d, name)) as z:
                names = z.namelist()
                self.assertIn("tasq/__init__.py", names)
                self.assertIn("tasq/_installed.py", names)
                self.assertIn("tasq-%s.dist-info/RECORD"
                              % tasq.__version__, names)
                inst = z.read("tasq/_installed.py").decode()
                self.assertIn("LIBRARY = '/opt/x/libtasq.so.1'", inst)
                self.assertFalse(any("__pycache__" in n for n in names))


if __name__ == "__main__":
    unittest.main()
