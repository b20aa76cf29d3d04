"""Segmentation evaluation: ScanNet-rule metrics from a confusion matrix (`metrics`), whole-scene
prediction scattered back to every vertex (`predict`), frozen per-point features (`features`), the
linear probe on them (`linear`), supervised training of the whole network (`finetune`), what frozen
features look like (`embedding`: k-NN accuracy, t-SNE / UMAP) and the comparison of results over seeds
(`seeds`). The entry point tying them together is `byol3d.probe`."""
