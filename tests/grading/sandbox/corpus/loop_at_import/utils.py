# ==== hostile addition to reference/utils.py (tests/grading/sandbox/corpus): the upload is that file + these lines ====
while True:  # an endless loop at the top level: importing utils.py never finishes
    pass
