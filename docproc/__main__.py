from docproc.cli import app

app(prog_name="python -m docproc")
