// ImageFolderDataset and openDataSpec on folders built from Pillow-written samples (gen_images.py):
// class order and labels as torchvision's ImageFolder, splits, hidden and non-image files, the
// channel rule, samples equal to decodeImage + applyTransforms, and the bad-folder errors
// (empty class, a class the training split lacks, different sizes without a crop, a file gone
// after listing), each naming the folder or file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "singa/core/error.h"
#include "singa/image/image.h"
#include "singa/data/image_folder.h"
#include "singa/data/loader.h"
#include "singa/data/source.h"
#include "singa/data/transforms.h"
#include "tests/data/scratch_dir.h"

namespace singa {
namespace {

namespace fs = std::filesystem;

#ifdef SINGA_IMAGE_SAMPLES
const fs::path kSamples = SINGA_IMAGE_SAMPLES;
#else
const fs::path kSamples;
#endif

class ImageFolder : public test::ScratchDirTest {
 protected:
  void SetUp() override {
    if (kSamples.empty() || !fs::exists(kSamples / "manifest.tsv")) GTEST_SKIP() << "no Pillow-written samples";
    ScratchDirTest::SetUp();
    root_ = dir_;
  }
  /// Copies sample `name` to root/rel.
  void put(const std::string& name, const std::string& rel) {
    fs::create_directories((root_ / rel).parent_path());
    fs::copy_file(kSamples / name, root_ / rel, fs::copy_options::overwrite_existing);
  }
  fs::path root_;
};

TEST_F(ImageFolder, ClassesSortedFilesListedLikeTorchvision) {
  put("rgb.png", "zebra/b.png");
  put("rgb.png", "zebra/a.PNG");
  put("rgb.jpg", "apple/sub/deeper/x.jpeg");  // below a class folder counts
  put("gray.png", "apple/y.png");
  put("rgb.png", "mango/.hidden.png");        // hidden files are ignored
  put("rgb.png", "mango/m.jpg");              // a PNG named .jpg: decoded by its signature
  std::ofstream(root_ / "mango" / "notes.txt") << "not an image";
  fs::create_directories(root_ / ".cache" / "x");  // a hidden folder is no class
  TransformOptions t;
  t.height = 8;
  t.width = 8;
  ImageFolderDataset d(root_.string(), t);
  EXPECT_EQ(d.classNames(), (std::vector<std::string>{"apple", "mango", "zebra"}));
  ASSERT_EQ(d.size(), 5);
  EXPECT_EQ(d.path(0), (root_ / "apple/sub/deeper/x.jpeg").string());
  EXPECT_EQ(d.path(1), (root_ / "apple/y.png").string());
  EXPECT_EQ(d.path(3), (root_ / "zebra/a.PNG").string());
  EXPECT_EQ(d.labels().toVector<int64_t>(), (std::vector<int64_t>{0, 0, 1, 2, 2}));
  EXPECT_EQ(d.numClasses(), 3);
  // Colour files in the folder: 3 channels, the gray one converted.
  EXPECT_EQ(d.sampleShape(), (Shape{3, 8, 8}));
  EXPECT_TRUE(d.decodes());
}

TEST_F(ImageFolder, SamplesAreDecodeThenTransforms) {
  put("rgb.jpg", "a/1.jpg");
  put("palette.png", "b/2.png");
  put("gray_alpha.png", "b/3.png");
  TransformOptions t;
  t.resize = 10;
  t.crop = 6;
  t.randomCrop = true;
  t.hflip = true;
  t.mean = {0.5f, 0.4f, 0.3f};
  t.std = {0.2f, 0.25f, 0.3f};
  ImageFolderDataset d(root_.string(), t);
  ASSERT_EQ(d.sampleShape(), (Shape{3, 6, 6}));
  TransformOptions full = t;
  full.channels = 3;
  for (int64_t i = 0; i < d.size(); ++i) {
    for (bool train : {false, true}) {
      std::vector<float> got(108), want(108);
      Generator g1(40 + i), g2(40 + i);
      d.load(i, train, g1, got.data());
      applyTransforms(readImageFile(d.path(i)), full, train, g2, want.data());
      EXPECT_EQ(got, want) << d.path(i) << (train ? " (train)" : " (eval)");
    }
  }
}

TEST_F(ImageFolder, GrayFoldersStayOneChannelAndNormalizeCountDecides) {
  put("gray.png", "a/1.png");
  put("gray.jpg", "b/1.jpg");
  ImageFolderDataset gray(root_.string());
  EXPECT_EQ(gray.sampleShape()[0], 1);
  TransformOptions t;
  parseNormalize("imagenet", t.mean, t.std);
  gray.setTransforms(t);
  EXPECT_EQ(gray.sampleShape()[0], 3);  // three means: RGB
}

TEST_F(ImageFolder, SplitsShareTheTrainingClasses) {
  put("rgb.png", "train/a/1.png");
  put("rgb.png", "train/b/1.png");
  put("rgb.png", "train/c/1.png");
  put("rgb.png", "val/a/1.png");
  put("rgb.png", "val/c/1.png");  // no b: c keeps label 2
  TransformOptions t;
  t.crop = 4;
  DataSplits s = openDataSpec("imagefolder:" + root_.string(), t);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.train->size(), 3);
  EXPECT_EQ(s.test->labels().toVector<int64_t>(), (std::vector<int64_t>{0, 2}));
  // A plain directory of class folders is recognised without the prefix.
  DataSplits plain = openDataSpec((root_ / "train").string(), t);
  EXPECT_EQ(plain.train->size(), 3);
  EXPECT_FALSE(plain.test);
  // A validation folder with a class the training split lacks.
  put("rgb.png", "val/zz/1.png");
  const std::string m = test::errorOf([&] { openDataSpec("imagefolder:" + root_.string(), t); });
  EXPECT_NE(m.find("class folder 'zz' that its training split does not have"), std::string::npos) << m;
  // The labels' checker against a model with fewer outputs.
  const std::string m2 = test::errorOf([&] { checkLabelsBelow(*plain.train, 2, "--val-data"); });
  EXPECT_NE(m2.find("has label 2 but the model has 2 outputs"), std::string::npos) << m2;
  EXPECT_NE(m2.find((root_ / "train/c/1.png").string()), std::string::npos) << m2;
}

TEST_F(ImageFolder, BadFoldersAreNamed) {
  // No class folders, no images.
  EXPECT_NE(test::errorOf([&] { ImageFolderDataset d(root_.string()); }).find("has no class folders"), std::string::npos);
  fs::create_directories(root_ / "a");
  put("rgb.png", "a/notes.txt");
  EXPECT_NE(test::errorOf([&] { ImageFolderDataset d(root_.string()); }).find("has no .jpg, .jpeg or .png files"),
            std::string::npos);
  // An empty class folder: an error, or with allowEmptyClasses a warning and a label kept.
  put("rgb.png", "b/1.png");
  const std::string m = test::errorOf([&] { ImageFolderDataset d(root_.string()); });
  EXPECT_NE(m.find((root_ / "a").string() + "' has no .jpg"), std::string::npos) << m;
  ImageFolderOptions o;
  o.allowEmptyClasses = true;
  ImageFolderDataset kept(root_.string(), {}, o);
  EXPECT_EQ(kept.numClasses(), 2);
  EXPECT_EQ(kept.label(0), 1);
  ASSERT_EQ(kept.warnings().size(), 1u);
  // Not a directory.
  EXPECT_THROW(ImageFolderDataset d((root_ / "nope").string()), IoError);
}

TEST_F(ImageFolder, LinksMayNotLeaveTheFolder) {
  put("rgb.png", "a/1.png");
  put("rgb.png", "b/1.png");
  fs::create_symlink(root_ / "a/1.png", root_ / "b/inside.png");  // inside: fine
  ImageFolderDataset ok(root_.string());
  EXPECT_EQ(ok.size(), 3);
  fs::create_symlink(kSamples / "rgb.png", root_ / "b/outside.png");
  const std::string m = test::errorOf([&] { ImageFolderDataset d(root_.string()); });
  EXPECT_NE(m.find((root_ / "b/outside.png").string() + "' is a link to"), std::string::npos) << m;
  EXPECT_NE(m.find("outside the image folder"), std::string::npos) << m;
}

TEST_F(ImageFolder, DifferentSizesNeedACropAndAVanishedFileIsNamed) {
  put("rgb.png", "a/1.png");   // 7 x 13
  put("palette.png", "a/2.png");  // 15 x 17
  ImageFolderDataset d(root_.string());
  std::vector<float> out(static_cast<size_t>(d.sampleShape()[0] * d.sampleShape()[1] * d.sampleShape()[2]));
  Generator g(0);
  d.load(0, false, g, out.data());
  const std::string m = test::errorOf([&] { d.load(1, false, g, out.data()); });
  EXPECT_NE(m.find((root_ / "a/2.png").string()), std::string::npos) << m;
  EXPECT_NE(m.find("--resize N --crop N"), std::string::npos) << m;
  // With a crop both load.
  TransformOptions t;
  t.crop = 5;
  d.setTransforms(t);
  std::vector<float> small(75);
  d.load(1, false, g, small.data());
  // A file removed after listing: an error naming it, from a loader's worker as well.
  fs::remove(root_ / "a/2.png");
  const std::string gone = test::errorOf([&] { d.load(1, false, g, small.data()); });
  EXPECT_NE(gone.find((root_ / "a/2.png").string()), std::string::npos) << gone;
  DataLoaderOptions lo;
  lo.batchSize = 2;
  lo.workers = 1;
  DataLoader loader(std::shared_ptr<const Dataset>(&d, [](const Dataset*) {}), lo);
  Batch b;
  const std::string viaWorker = test::errorOf([&] { loader.next(b); });
  EXPECT_NE(viaWorker.find((root_ / "a/2.png").string()), std::string::npos) << viaWorker;
}

}  // namespace
}  // namespace singa
