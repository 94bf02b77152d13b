// Image/label checks shared by the array-file data sources (see array_split.h).
#include "singa/data/array_split.h"

#include <vector>

#include "singa/core/error.h"

namespace singa {
namespace {

// Integer values to int64 by hand: the data layer sits below the ops (no cast op here).
std::vector<int64_t> toInt64(const Tensor& t) {
  std::vector<int64_t> values(static_cast<size_t>(t.numel()));
  SINGA_DISPATCH_ALL(t.dtype(), T, {
    const T* src = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int64_t>(src[i]);
  });
  return values;
}

// The index of the first negative value of signed integers, or -1 (checked in place: token data may be large).
template <class T>
int64_t firstNegative(const T* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (v[i] < 0) return i;
  }
  return -1;
}

}  // namespace

MnistSplit checkedArraySplit(Tensor images, const Tensor& labels, const std::string& imagesWhat,
                             const std::string& labelsWhat, bool allowTokenIds) {
  const Shape& is = images.shape();
  SINGA_CHECK(is.size() >= 2 && is[0] >= 1, ValueError,
              "data set: " << imagesWhat << " holds an array of shape " << is
                           << "; images need a leading sample axis and at least one more ([N, C, H, W], [N, H, W] or [N, D])");
  const bool tokenIds = images.dtype() == DType::kInt64 || images.dtype() == DType::kInt32;
  SINGA_CHECK(images.dtype() == DType::kUInt8 || images.dtype() == DType::kFloat32 || (allowTokenIds && tokenIds),
              ValueError,
              "data set: " << imagesWhat << " holds " << dtypeName(images.dtype())
                           << " images; save uint8 (scaled by 1/255 when loaded) or float32 (used as they are)"
                           << (allowTokenIds ? ", or int64/int32 token ids [N, T]" : ""));
  if (tokenIds) {
    SINGA_CHECK(is.size() == 2, ValueError,
                "data set: " << imagesWhat << " holds " << dtypeName(images.dtype()) << " token ids of shape " << is
                             << "; token ids are one sequence per sample ([N, T])");
    const int64_t bad = images.dtype() == DType::kInt64 ? firstNegative(images.data<int64_t>(), images.numel())
                                                        : firstNegative(images.data<int32_t>(), images.numel());
    SINGA_CHECK(bad < 0, ValueError,
                "data set: " << imagesWhat << " holds token id "
                             << (images.dtype() == DType::kInt64 ? images.data<int64_t>()[bad] : images.data<int32_t>()[bad])
                             << " at " << bad
                             << "; token ids are 0, 1, 2, ...");
  }
  SINGA_CHECK(labels.ndim() == 1 && labels.dim(0) == is[0], ValueError,
              "data set: " << labelsWhat << " holds labels of shape " << labels.shape() << " for " << is[0] << " images in "
                           << imagesWhat << "; labels must be one integer per image ([" << is[0] << "])");
  SINGA_CHECK(labels.dtype() == DType::kInt64 || labels.dtype() == DType::kInt32 || labels.dtype() == DType::kUInt8,
              ValueError,
              "data set: " << labelsWhat << " holds " << dtypeName(labels.dtype()) << " labels; save integers (int64)");
  const std::vector<int64_t> values = toInt64(labels);
  for (size_t i = 0; i < values.size(); ++i) {
    SINGA_CHECK(values[i] >= 0, ValueError,
                "data set: " << labelsWhat << " holds label " << values[i] << " at " << i << "; class labels are 0, 1, 2, ...");
  }
  MnistSplit split;
  split.images = std::move(images);
  split.labels = Tensor::fromVector<int64_t>(values, {labels.dim(0)});
  return split;
}

}  // namespace singa
