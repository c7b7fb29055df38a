"""scikit-learn classifiers over learned embeddings (paper 002: SVMs, LDA, softmax regression).

The embedding network is trained with a metric loss; a classical classifier is then fitted on
its (N, D) embeddings. ``EmbeddingPipeline`` bundles both, with the label set and input format,
into one file that predicts from raw uint8 face crops.

Defaults (chosen for 128-D unit-norm embeddings and FER2013-sized training sets):

* ``svm_linear``  StandardScaler + ``LinearSVC`` (liblinear, one-vs-rest). libsvm's linear
  kernel gives nearly the same classifier but scales quadratically in N; paper 002 refits
  every epoch on ~28k embeddings.
* ``svm_rbf`` / ``svm_poly`` (degree 3) / ``svm_sigmoid``  StandardScaler + ``SVC`` (C=1,
  gamma="scale", one-vs-rest decision shape), without probability estimates (Platt scaling
  costs an internal 5-fold CV, is deprecated in scikit-learn 1.9, and ROC needs only a ranking).
* ``lda``  ``LinearDiscriminantAnalysis`` (svd solver; invariant to feature scaling).
* ``softmax``  StandardScaler + multinomial ``LogisticRegression`` (lbfgs, max_iter=1000).
* ``nearest_centroid`` / ``knn`` (k=5)  on the raw embeddings: the triplet loss shaped exactly
  that Euclidean geometry, which scaling would distort.

Scores (``classifier_scores``, used for ROC curves): ``predict_proba`` where the estimator has it
(lda, softmax, knn, nearest_centroid, whose scikit-learn probabilities are a softmax over
negative squared centroid distances); otherwise ``decision_function`` (the SVMs: one-vs-rest
margins, not probabilities; ROC only needs each class's ranking). Larger = more likely always.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from ferkit.constants import MIRROR_TTA_MODES
from ferkit.errors import CheckpointError, ConfigError, ImageReadError


def _scaled(estimator: Any) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), estimator)


def _svm_linear() -> Any:
    from sklearn.svm import LinearSVC

    return _scaled(LinearSVC(C=1.0, max_iter=5000))


def _svc(kernel: str) -> Callable[[], Any]:
    def make() -> Any:
        from sklearn.svm import SVC

        return _scaled(SVC(kernel=kernel, C=1.0, gamma="scale", degree=3, decision_function_shape="ovr"))

    return make


def _lda() -> Any:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    return LinearDiscriminantAnalysis()


def _softmax() -> Any:
    from sklearn.linear_model import LogisticRegression

    return _scaled(LogisticRegression(max_iter=1000))  # multinomial for >2 classes (lbfgs)


def _nearest_centroid() -> Any:
    from sklearn.neighbors import NearestCentroid

    return NearestCentroid()


def _knn() -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=5)


CLASSIFIERS: dict[str, Callable[[], Any]] = {
    "svm_linear": _svm_linear,
    "svm_rbf": _svc("rbf"),
    "svm_poly": _svc("poly"),
    "svm_sigmoid": _svc("sigmoid"),
    "lda": _lda,
    "softmax": _softmax,
    "nearest_centroid": _nearest_centroid,
    "knn": _knn,
}


def build_classifier(name: str) -> Any:
    """An unfitted scikit-learn estimator (often a Pipeline with a StandardScaler) for ``name``."""
    if name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier {name!r}; valid classifiers: {', '.join(CLASSIFIERS)}")
    return CLASSIFIERS[name]()


def _check_xy(embeddings: np.ndarray, labels: np.ndarray | None = None, *, features: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, D) finite float embeddings (D = ``features`` when a fitted classifier expects it) and (N,) integer class
    indices >= 0. Labels 0.9 / 1.8 were cast to 0 / 1 (three classes became two) and string labels reached numpy."""
    x = np.asarray(embeddings)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
        raise ConfigError(f"embeddings must be a (N, D) float array, got shape {x.shape} dtype {x.dtype}")
    if not np.isfinite(x).all():
        rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ConfigError(f"embeddings hold NaN or inf in {len(rows)} row(s) (first: {rows[:5].tolist()}); the network that made them diverged?")
    if features is not None and x.shape[1] != features:
        raise ConfigError(f"embeddings have {x.shape[1]} features; the classifier was fitted on {features}")
    if labels is None:
        return x, None
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(x):
        raise ConfigError(f"labels must be (N,) with N = {len(x)} embeddings, got shape {y.shape}")
    integral = np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0))
    if y.dtype == bool or not integral or (y.size and y.min() < 0):
        raise ConfigError(f"labels must be class indices (ints >= 0), got {y.dtype} values such as {y[:3].tolist()}; "
                          "map class names to their index in class_names first")
    return x, y.astype(np.int64)


def fit_classifiers(train_embeddings: np.ndarray, train_labels: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Fit each named classifier on (N, D) embeddings and (N,) int labels; returns name -> fitted estimator."""
    x, y = _check_xy(train_embeddings, train_labels)
    if len(np.unique(y)) < 2:  # type: ignore[arg-type]
        raise ConfigError(f"classifiers need at least 2 classes in the training labels, got {np.unique(y).tolist()}")  # type: ignore[arg-type]
    estimators = {name: build_classifier(name) for name in names}  # all names checked before any fit
    neighbours = {name: est.n_neighbors for name, est in estimators.items() if hasattr(est, "n_neighbors")}
    for name, k in neighbours.items():
        if len(x) < k:
            raise ConfigError(f"{name} looks at the {k} nearest training embeddings and got only {len(x)}; train it on more")
    return {name: est.fit(x, y) for name, est in estimators.items()}


def score_classifiers(fitted: dict[str, Any], embeddings: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """name -> {"accuracy", "macro_f1"} on (N, D) embeddings; macro-F1 over the classes present in labels or predictions."""
    from sklearn.metrics import f1_score

    out = {}
    for name, est in fitted.items():
        x, y = _check_xy(embeddings, labels, features=_fitted_features(est, name))
        pred = est.predict(x)
        out[name] = {"accuracy": float(np.mean(pred == y)) if len(y) else 0.0, "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)) if len(y) else 0.0}  # type: ignore[arg-type]
    return out


def _fitted_features(estimator: Any, name: str) -> int:
    """The embedding size ``estimator`` was fitted on; a ConfigError when it was never fitted."""
    features = getattr(estimator, "n_features_in_", None)
    if features is None:
        raise ConfigError(f"{name} is not fitted; fit it with fit_classifiers first")
    return int(features)


def classifier_scores(fitted: Any, embeddings: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, num_classes) float scores, larger = more likely; column c is class index c.

    Classes the classifier never saw in training get a score below every other in their row.
    """
    x, _ = _check_xy(embeddings, features=_fitted_features(fitted, type(fitted).__name__))
    if hasattr(fitted, "predict_proba"):
        raw = fitted.predict_proba(x)
    else:
        raw = fitted.decision_function(x)
    raw = np.asarray(raw, dtype=np.float64)
    classes = np.asarray(fitted.classes_, dtype=np.int64)
    if raw.ndim == 1:  # binary decision_function: positive means classes[1]
        raw = np.stack([-raw, raw], axis=1)
    if classes.min(initial=0) < 0 or classes.max(initial=0) >= num_classes:
        raise ConfigError(f"classifier labels {classes.tolist()} do not fit num_classes={num_classes}")
    floor = (raw.min(axis=1, keepdims=True) - 1.0) if raw.size else np.zeros((len(x), 1))
    scores = np.repeat(floor, num_classes, axis=1)
    scores[:, classes] = raw
    return scores


# --------------------------------------------------------------------------- pipeline


def _embedding_size(model: nn.Module, model_kwargs: dict[str, Any], image_size: int) -> int | None:
    """The size D of the (N, D) embeddings ``model`` makes: its ``embedding_dim``, else one zero image through it."""
    size = getattr(model, "embedding_dim", None)
    if isinstance(size, int) and size > 0:
        return size
    was_training = model.training
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            probe = torch.zeros(1, int(model_kwargs.get("in_chans", 1)), int(image_size), int(image_size), device=device)
            return int(model.eval().forward_embedding(probe).shape[1])
    except Exception:  # noqa: BLE001 - a model that cannot embed one image says so when it is used
        return None
    finally:
        model.train(was_training)


class EmbeddingPipeline:
    """Embedding network + fitted scikit-learn classifier + label set + input format, as one predictor.

    model: a module with ``forward_embedding(x (B, C, S, S)) -> (B, D)`` built by
    ``ferkit.models.build_model(model_name, **model_kwargs)`` (model_kwargs include num_classes
    and, if not 1, in_chans). Images are (N, H, W) uint8 gray crops; they are resized to
    ``image_size`` if needed, normalised as (x/255 - 0.5)/0.5 and repeated to ``in_chans``, and
    embedded in batches under ``torch.no_grad`` on ``device``.
    """

    def __init__(
        self,
        model: nn.Module,
        classifier: Any,
        class_names: Sequence[str],
        *,
        model_name: str,
        model_kwargs: dict[str, Any],
        image_size: int = 48,
        classifier_name: str = "",
        device: str | torch.device | None = None,
    ) -> None:
        if not hasattr(model, "forward_embedding"):
            raise ConfigError(f"model {type(model).__name__} has no forward_embedding; use a ferkit FerNet from build_model")
        classes = getattr(classifier, "classes_", None)
        if classes is None:
            raise ConfigError("classifier is not fitted: call fit_classifiers (or .fit) before building the pipeline")
        classes = np.asarray(classes)
        if not np.issubdtype(classes.dtype, np.integer) or classes.min() < 0 or classes.max() >= len(class_names):
            raise ConfigError(f"classifier was fitted on labels {classes.tolist()}, which are not indices into {len(class_names)} class_names")
        # device None keeps the model where it is (and its train/eval mode: embed() switches to eval and back)
        from ferkit.devices import resolve_device

        self.device = resolve_device(device) if device is not None else next(model.parameters()).device
        self.model = model.to(self.device)
        fitted_on, makes = getattr(classifier, "n_features_in_", None), _embedding_size(model, model_kwargs, image_size)
        if fitted_on is not None and makes is not None and int(fitted_on) != makes:
            raise ConfigError(f"the classifier was fitted on {fitted_on}-D embeddings and the network makes {makes}-D ones; "
                              "fit it on this network's embeddings")
        self.classifier = classifier
        self.class_names = tuple(class_names)
        self.model_name = model_name
        self.model_kwargs = dict(model_kwargs)
        self.in_chans = int(self.model_kwargs.get("in_chans", 1))
        self.image_size = int(image_size)
        self.classifier_name = classifier_name

    def embed(self, images: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """(N, H, W) uint8 -> (N, D) float32 embeddings, in eval mode, without gradients."""
        from ferkit.evaluate.predict import predict_embeddings

        images = np.asarray(images)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ImageReadError(f"images must be (N, H, W) uint8 gray crops, got shape {images.shape} dtype {images.dtype}")
        if len(images) == 0:
            return np.zeros((0, int(getattr(self.model, "embedding_dim", 0))), np.float32)
        return predict_embeddings(self.model, images, in_chans=self.in_chans, image_size=self.image_size, batch_size=batch_size, device=self.device)

    def predict(self, images: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """(N, H, W) uint8 -> (N,) int64 indices into ``class_names``."""
        emb = self.embed(images, batch_size=batch_size)
        return self.classifier.predict(emb).astype(np.int64) if len(emb) else np.zeros(0, np.int64)

    def predict_scores(self, images: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """(N, H, W) uint8 -> (N, len(class_names)) scores (see ``classifier_scores``)."""
        emb = self.embed(images, batch_size=batch_size)
        if not len(emb):
            return np.zeros((0, len(self.class_names)))
        return classifier_scores(self.classifier, emb, len(self.class_names))

    def predict_proba(self, images: np.ndarray, *, tta: str = "none", batch_size: int = 256) -> np.ndarray:
        """(N, H, W) uint8 -> (N, len(class_names)) rows summing to 1, for code that expects probabilities.

        Classifiers with ``predict_proba`` (LDA, softmax, k-NN, nearest centroid) give theirs; the SVMs
        give a softmax over their one-vs-rest margins, a ranking-preserving squash rather than a
        calibrated probability. ``tta="flip"`` averages the original and the mirrored crops.
        """
        if tta not in MIRROR_TTA_MODES:
            raise ConfigError(f"embedding pipelines support tta 'none' or 'flip', got {tta!r}")
        images = np.asarray(images)
        views = [images] + ([np.ascontiguousarray(images[..., ::-1])] if tta == "flip" and images.ndim == 3 else [])
        rows = []
        for view in views:
            scores = self.predict_scores(view, batch_size=batch_size)
            if hasattr(self.classifier, "predict_proba"):
                probs = np.clip(scores, 0.0, None)  # classes never seen in training carry a negative floor
                probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
            else:
                shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
                probs = shifted / shifted.sum(axis=1, keepdims=True)
            rows.append(probs)
        return np.mean(rows, axis=0)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write one file atomically (``ferkit.artifacts.save_pipeline``): weights, model name/kwargs, label set,
        input format and the pickled classifier."""
        from ferkit.artifacts import save_pipeline
        from ferkit.artifacts.loaded import build_network
        from ferkit.errors import CheckpointError

        path = Path(path).expanduser()
        if path.is_dir():
            raise ConfigError(f"{path} is a folder; give a file name for the pipeline (e.g. {path / 'pipeline.pt'})")
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} already exists; pass overwrite=True or choose another path")
        try:  # the file must load again: model_name and model_kwargs rebuild the network these weights fit
            build_network(self.model_name, self.model_kwargs, {k: v.cpu() for k, v in self.model.state_dict().items()}, path)
        except CheckpointError as exc:
            raise ConfigError(f"not saving {path}: model_name={self.model_name!r} with model_kwargs {self.model_kwargs} does not rebuild "
                              f"this network ({str(exc).split(': ', 1)[-1]})") from None
        return save_pipeline(path, self.model, self.classifier, model_name=self.model_name, model_kwargs=self.model_kwargs,
                             class_names=self.class_names, image_size=self.image_size, in_chans=self.in_chans, classifier_name=self.classifier_name)

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> "EmbeddingPipeline":
        """Rebuild a saved pipeline. The classifier is unpickled: load only files you trust."""
        from ferkit.artifacts import load_pipeline

        return cls.from_loaded(load_pipeline(path, device=device))

    @classmethod
    def from_loaded(cls, loaded: Any) -> "EmbeddingPipeline":
        """The pipeline of a ``LoadedModel`` of kind "pipeline" (``ferkit.artifacts.load_any`` of a pipeline file)."""
        if loaded.kind != "pipeline":
            raise ConfigError(f"{loaded.path} is a {loaded.kind}, not an embedding pipeline")
        try:
            return cls(loaded.model, loaded.classifier, loaded.class_names, model_name=loaded.model_name, model_kwargs=loaded.model_kwargs,
                       image_size=loaded.image_size, classifier_name=loaded.classifier_name)
        except ConfigError as exc:
            raise CheckpointError(f"{loaded.path}: inconsistent pipeline file: {exc}") from None
