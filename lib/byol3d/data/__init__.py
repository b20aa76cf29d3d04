"""ScanNet v2 readers, the SynthRooms generator, the preprocessed cache and the training datasets."""
