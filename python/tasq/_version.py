"""The package's version: the project's (CMakeLists.txt project())."""
__version__ = "0.1.0"
