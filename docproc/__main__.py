from docproc.cli import main

main("python -m docproc")
