"""The online usage's peak as the Node keeps it: bucket maxima over a window, written and
read back as the annotation's text."""

from tidewise.kube.colocation.peak import ANNOTATION, Bucket, UsagePeak, read_peak
from tidewise.model import Resources

WINDOW = 60.0  # buckets of 10 s


def test_the_peak_is_the_largest_sample_of_each_resource_within_the_window():
    peak = UsagePeak()
    peak = peak.sampled(100.0, Resources(cpu_milli=400, memory_mib=1000), WINDOW)
    peak = peak.sampled(105.0, Resources(cpu_milli=300, memory_mib=3000), WINDOW)
    peak = peak.sampled(112.0, Resources(cpu_milli=900, memory_mib=500), WINDOW)
    assert peak.buckets == (Bucket(100.0, 400, 3000), Bucket(110.0, 900, 500))
    assert peak.peak == Resources(cpu_milli=900, memory_mib=3000)


def test_a_bucket_leaves_the_window_once_its_last_instant_is_a_window_old():
    """A peak is kept a window at least, a bucket at most beyond: never let go early."""
    peak = UsagePeak().sampled(109.0, Resources(cpu_milli=900, memory_mib=900), WINDOW)
    quiet = Resources(cpu_milli=100, memory_mib=100)
    peak = peak.sampled(169.0, quiet, WINDOW)
    assert peak.peak == Resources(cpu_milli=900, memory_mib=900)
    peak = peak.sampled(170.0, quiet, WINDOW)
    assert peak.peak == quiet
    assert [b.start_s for b in peak.buckets] == [160.0, 170.0]


def test_the_annotation_round_trips_and_an_unreadable_one_starts_again():
    peak = UsagePeak().sampled(100.0, Resources(cpu_milli=250, memory_mib=64), WINDOW)
    assert read_peak({ANNOTATION: peak.text()}) == peak
    assert read_peak({}) == UsagePeak()
    assert read_peak({ANNOTATION: "not json"}) == UsagePeak()
    assert read_peak({ANNOTATION: '[["x", 1]]'}) == UsagePeak()
