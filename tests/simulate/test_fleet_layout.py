"""A simulated fleet is the fleet the scenario asked for: distinct, readable ids for any region names, and a clear
error for a fleet that cannot be laid out."""

import pytest

from pipelines.simulate.fleet import build_fleet, region_codes
from pipelines.simulate.scenario import ScenarioError, scenario_from_dict


def _fleet(**fleet):
    return scenario_from_dict({"name": "x", "start": "2026-03-02T00:00:00Z", "days": 1, "fleet": fleet}).fleet


@pytest.mark.parametrize(
    ("regions", "codes"),
    [
        (["us-east", "eu-west"], ["use", "euw"]),  # the default fleet keeps its ids
        (["us-west", "us-central"], ["usw", "usc"]),  # both began 'us-' and shared 'us-' as their code
        (["us-east-1", "us-east-2", "eu-west-1", "ap-south"], ["use1", "use2", "euw1", "aps"]),
        (["use", "us-east"], ["use", "us-east"]),  # short codes that collide fall back to the whole name
    ],
)
def test_region_codes_are_distinct_and_readable(regions, codes):
    assert region_codes(regions) == codes


@pytest.mark.parametrize(
    "regions", [["us-west", "us-central"], ["us-east-1", "us-east-2", "eu-west-1", "ap-south"], ["a", "b", "c"]]
)
def test_every_node_and_gpu_id_is_unique_and_every_region_has_nodes(regions):
    fleet = build_fleet(_fleet(gpus=96, nodes=len(regions) * 3, regions=regions))
    assert len(set(fleet.node_ids)) == len(fleet.node_ids)
    assert len(set(fleet.gpu_ids)) == len(fleet.gpu_ids) == 96
    assert sorted(set(fleet.node_region.tolist())) == list(range(len(regions)))


def test_a_fleet_with_as_many_nodes_as_regions_still_lays_one_node_in_each():
    fleet = build_fleet(_fleet(gpus=24, nodes=3, regions=["a", "b", "c"]))  # two SKUs would leave 'c' empty
    assert sorted(fleet.node_region.tolist()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("fleet", "message"),
    [
        ({"gpus": 8, "nodes": 3, "regions": ["a", "b", "c", "d"]}, "nodes: 3 node(s) cannot cover 4 regions"),
        ({"gpus": 2, "nodes": 4, "regions": ["a"]}, "gpus: 2 GPU(s) cannot fill 4 nodes"),
        ({"regions": ["us-east", "US-east"]}, "fleet.regions: Value error, region US-east, us-east listed twice"),
        ({"regions": ["us east"]}, "fleet.regions: Value error, 'us east' is not a region name"),
    ],
)
def test_a_fleet_that_cannot_be_laid_out_is_refused_naming_the_field(fleet, message):
    with pytest.raises(ScenarioError, match="fleet") as error:
        _fleet(**fleet)
    assert message in str(error.value)
