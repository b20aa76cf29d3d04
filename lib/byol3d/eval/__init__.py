"""Segmentation evaluation: ScanNet-rule metrics from a confusion matrix (`metrics`), whole-scene
prediction scattered back to every vertex (`predict`), frozen per-point features (`features`), the
linear probe on them (`linear`) and supervised training of the whole network (`finetune`).
The entry point tying them together is `byol3d.probe`."""
