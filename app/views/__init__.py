"""HTML blueprints, one module per feature. Views are thin: parse, call a service, render."""
