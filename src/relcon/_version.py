"""The package's version, in a module of its own so that the core modules that record it
(:func:`relcon.io.environment_info`) need not import the package, which imports the model hub."""

__version__ = "0.1.0"
