"""The demo profiles shipped with tandem: each subpackage is one business's agent (its
``profile.toml``, knowledge, scenarios and any tools or offline brains of its own), registered
under the ``tandem.profiles`` entry point group like a third party's would be."""
