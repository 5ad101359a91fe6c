"""Taxonomy workbench: build, curate, validate and export versioned hierarchical taxonomies of value strings.

The Python API lives in :mod:`taxonomy.api`: one function per CLI command, with the same name and options::

    import taxonomy.api as tx
    tx.init("my.db")
"""

from taxonomy.kernels import pin_cpu_kernels

pin_cpu_kernels()  # before NumPy and torch load: the same tree on every CPU (see taxonomy.kernels)

__version__ = "0.1.0"
