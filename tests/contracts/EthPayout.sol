// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A batch payout (an exchange withdrawal, a multisig): forwards ETH to several addresses
/// from inside one call, so the recipients' credits are internal transactions.
contract EthPayout {
    function payout(address payable[] calldata to, uint256[] calldata amounts) external payable {
        require(to.length == amounts.length, "length mismatch");
        for (uint256 i = 0; i < to.length; i++) {
            (bool ok,) = to[i].call{value: amounts[i]}("");
            require(ok, "send failed");
        }
    }

    /// Pays `to` from a nested frame that then reverts: no value may be credited.
    function payoutThenRevert(address payable to) external payable {
        try this.inner(to) {} catch {}
    }

    function inner(address payable to) external payable {
        (bool ok,) = to.call{value: address(this).balance}("");
        require(ok, "send failed");
        revert("undo");
    }

    receive() external payable {}
}
