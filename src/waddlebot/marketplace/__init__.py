"""The marketplace: a catalogue of modules, their versions, and per-community installs."""
