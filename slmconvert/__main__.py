from slmconvert.cli import app

app(prog_name="slmconvert")
