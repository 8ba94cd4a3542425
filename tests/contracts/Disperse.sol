// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IERC20 {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// A batch payout as disperse.app's `disperseToken` does it: one transaction pulls the
/// total from the sender, then pays each recipient, so the token emits several Transfer
/// logs in one transaction (sender -> this contract first, then one per recipient).
/// Tests use it to re-mine such a transaction in another block, where every log index
/// shifts (tests/integration/test_scan_identity.py).
contract Disperse {
    function disperseToken(IERC20 token, address[] calldata recipients, uint256[] calldata values) external {
        require(recipients.length == values.length, "length");
        uint256 total = 0;
        for (uint256 i = 0; i < recipients.length; i++) {
            total += values[i];
        }
        require(token.transferFrom(msg.sender, address(this), total), "transferFrom");
        for (uint256 i = 0; i < recipients.length; i++) {
            require(token.transfer(recipients[i], values[i]), "transfer");
        }
    }
}
