def add_commands(app, host):
    pass
