"""The built-in tools any profile may allow: answers from the business's own information, the
time anywhere, safe arithmetic and the weather. Registered through the ``tandem.tools`` entry
points like any plugin."""
