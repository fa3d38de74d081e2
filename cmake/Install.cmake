# Install rules beyond the programs themselves (man pages, units,
# pkg-config, packaging) live here; the top CMakeLists.txt includes it.
