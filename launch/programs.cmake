# Command-line programs: singa_train, singa_onnx.
